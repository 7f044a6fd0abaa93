-- Windows stay in the partition actor's memory until they close, so the records of open
-- windows are not durable: a new owner replays them from here. NULL: from next_offset.
ALTER TABLE partition_offsets ADD COLUMN replay_from BIGINT NULL;
