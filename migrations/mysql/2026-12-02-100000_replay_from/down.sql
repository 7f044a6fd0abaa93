ALTER TABLE partition_offsets DROP COLUMN replay_from;
