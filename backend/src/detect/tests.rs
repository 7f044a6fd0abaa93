use super::*;

fn run(input: &str) -> Result<(DetectSummary, String), DetectError> {
    let mut out = Vec::new();
    let summary = detect(input.as_bytes(), &mut out, AnomalyConfig::default())?;
    Ok((
        summary,
        String::from_utf8(out).expect("CSV output is UTF-8"),
    ))
}

#[test]
fn timestamps_in_every_accepted_layout() {
    let want = Some(1_397_114_100_000);
    assert_eq!(parse_timestamp("2014-04-10 07:15:00"), want);
    assert_eq!(parse_timestamp("2014-04-10 07:15:00.000000"), want);
    assert_eq!(parse_timestamp("2014-04-10T07:15:00Z"), want);
    assert_eq!(parse_timestamp("2014-04-10T09:15:00+02:00"), want);
    assert_eq!(parse_timestamp("1397114100000"), want);
    assert_eq!(parse_timestamp("10/04/2014"), None);
    assert_eq!(parse_timestamp(""), None);
}

#[test]
fn one_output_row_per_input_row_in_order() {
    let mut input = String::from("timestamp,value\n");
    for i in 0..300 {
        input += &format!(
            "2014-04-10 {:02}:{:02}:00,{}\n",
            i / 60 % 24,
            i % 60,
            (i % 7) as f64 + 0.5
        );
    }
    let (summary, out) = run(&input).expect("valid input");
    assert_eq!(summary.rows, 300);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "timestamp,value,anomaly_score,state,alert");
    assert_eq!(lines.len(), 301);
    assert!(
        lines[1].starts_with("2014-04-10 00:00:00,0.5,0,warming,0"),
        "{}",
        lines[1]
    );
    assert!(
        lines[300].starts_with("2014-04-10 04:59:00,5.5,"),
        "{}",
        lines[300]
    );
    assert!(lines[300].contains(",baseline,"), "{}", lines[300]);
}

#[test]
fn column_order_and_extra_columns_do_not_matter() {
    let (summary, out) = run("label,value,timestamp\n0,1.5,1000\n0,2.5,2000\n").expect("valid");
    assert_eq!(summary.rows, 2);
    assert_eq!(out.lines().nth(2), Some("2000,2.5,0,warming,0"));
}

#[test]
fn errors_name_the_line() {
    let err = run("timestamp,value\n1000,1\n2000,abc\n").expect_err("bad value");
    assert_eq!(
        err.to_string(),
        "line 3: cannot read value `abc` as a number"
    );
    let err = run("timestamp,value\n1000,1\nyesterday,2\n").expect_err("bad timestamp");
    assert!(
        err.to_string()
            .starts_with("line 3: cannot read timestamp `yesterday`"),
        "{err}"
    );
    let err = run("time,value\n1000,1\n").expect_err("no timestamp column");
    assert!(matches!(err, DetectError::MissingColumn("timestamp")));
    let err = run("timestamp,value\n1000\n").expect_err("short row");
    assert!(err.to_string().starts_with("line 2:"), "{err}");
}

#[test]
fn empty_values_are_kept_with_an_empty_score_and_counted() {
    let (summary, out) = run("timestamp,value\n1000,1\n2000,\n3000,2\n").expect("valid");
    assert_eq!((summary.rows, summary.empty_values), (3, 1));
    assert_eq!(out.lines().nth(2), Some("2000,,,warming,0"));
}
