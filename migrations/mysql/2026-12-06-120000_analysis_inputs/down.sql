DROP TABLE analysis_inputs;
