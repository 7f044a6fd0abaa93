ALTER TABLE layer_windows DROP COLUMN latency_sketch;
ALTER TABLE layer_windows DROP COLUMN error_classes;
ALTER TABLE windows DROP COLUMN error_classes;
