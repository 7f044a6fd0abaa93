ALTER TABLE partition_offsets DROP COLUMN source_clocks;
