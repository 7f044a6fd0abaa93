DROP TABLE layer_progress;
DROP TABLE layer_sources;
DROP TABLE layer_windows;
