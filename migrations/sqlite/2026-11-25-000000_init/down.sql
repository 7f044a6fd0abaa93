DROP TABLE ingest_errors;
DROP TABLE ingest_files;
DROP TABLE partition_offsets;
DROP TABLE windows;
