//! The rules editor's form: text fields as typed, turned into a rule (or a message naming
//! the field that is wrong) before anything is sent. The server checks again and its message
//! is shown as it comes.

use layercast_shared::{OsiLayer, METRIC_NAMES};

use super::wire::{AlertRule, Condition, OPS, SIGNALS};

const MS_PER_S: f64 = 1_000.0;

#[derive(Debug, Clone, PartialEq)]
pub struct RuleForm {
    pub id: String,
    pub layer: String,
    pub entity: String,
    pub metric: String,
    pub signal: String,
    pub op: String,
    pub fire: String,
    /// Empty: resolve as soon as the fire condition stops holding.
    pub resolve: String,
    /// Seconds the condition must hold before the alert fires.
    pub for_s: String,
}

impl Default for RuleForm {
    fn default() -> Self {
        RuleForm {
            id: String::new(),
            layer: "L3".into(),
            entity: "*".into(),
            metric: "bytes_per_s".into(),
            signal: "value".into(),
            op: "above".into(),
            fire: String::new(),
            resolve: String::new(),
            for_s: "0".into(),
        }
    }
}

fn number(field: &str, text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{field}: {text:?} is not a number"))
}

impl RuleForm {
    pub fn from_rule(rule: &AlertRule) -> Self {
        RuleForm {
            id: rule.id.clone(),
            layer: rule.layer.as_str().to_owned(),
            entity: rule.entity.clone(),
            metric: rule.metric.clone(),
            signal: rule.condition.signal.clone(),
            op: rule.condition.op.clone(),
            fire: rule.condition.fire.to_string(),
            resolve: rule
                .condition
                .resolve
                .map(|r| r.to_string())
                .unwrap_or_default(),
            for_s: (rule.for_ms as f64 / MS_PER_S).to_string(),
        }
    }

    /// The rule, or what is wrong, field by field in the form's order.
    pub fn to_rule(&self) -> Result<AlertRule, String> {
        let id = self.id.trim();
        if id.is_empty() {
            return Err("id: give the rule a name".into());
        }
        let layer: OsiLayer = self
            .layer
            .parse()
            .map_err(|_| format!("layer: {:?} is not L1 to L7", self.layer))?;
        if self.entity.trim().is_empty() {
            return Err("entity: a name, or a pattern such as core-* (* for all)".into());
        }
        if !METRIC_NAMES.contains(&self.metric.as_str()) {
            return Err(format!("metric: {:?} is not a metric", self.metric));
        }
        if !SIGNALS.contains(&self.signal.as_str()) {
            return Err(format!("signal: {:?} is not a signal", self.signal));
        }
        if !OPS.contains(&self.op.as_str()) {
            return Err(format!("op: {:?} is neither above nor below", self.op));
        }
        let fire = number("fire", &self.fire)?;
        let resolve = match self.resolve.trim() {
            "" => None,
            text => Some(number("resolve", text)?),
        };
        let for_s = number("for", &self.for_s)?;
        if for_s < 0.0 {
            return Err("for: must not be negative".into());
        }
        Ok(AlertRule {
            id: id.to_owned(),
            layer,
            entity: self.entity.trim().to_owned(),
            metric: self.metric.clone(),
            condition: Condition {
                signal: self.signal.clone(),
                op: self.op.clone(),
                fire,
                resolve,
            },
            for_ms: (for_s * MS_PER_S).round() as i64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_form_is_a_rule_and_back() {
        let form = RuleForm {
            id: "hot-links".into(),
            fire: "1.25e8".into(),
            resolve: "1e8".into(),
            for_s: "30".into(),
            ..RuleForm::default()
        };
        let rule = form.to_rule().expect("valid");
        assert_eq!(rule.for_ms, 30_000);
        assert_eq!(rule.condition.resolve, Some(1e8));
        assert_eq!(rule.layer, OsiLayer::L3);
        let again = RuleForm::from_rule(&rule);
        assert_eq!(again.to_rule(), Ok(rule));
    }

    #[test]
    fn mistakes_name_their_field() {
        let base = RuleForm {
            id: "r".into(),
            fire: "1".into(),
            ..RuleForm::default()
        };
        let with = |f: fn(&mut RuleForm)| {
            let mut form = base.clone();
            f(&mut form);
            form.to_rule().expect_err("invalid")
        };
        assert!(with(|f| f.id.clear()).starts_with("id:"));
        assert!(with(|f| f.layer = "L0".into()).starts_with("layer:"));
        assert!(with(|f| f.metric = "speed".into()).starts_with("metric:"));
        assert!(with(|f| f.fire = "lots".into()).starts_with("fire:"));
        assert!(with(|f| f.resolve = "x".into()).starts_with("resolve:"));
        assert!(with(|f| f.for_s = "-1".into()).starts_with("for:"));
        assert!(base.to_rule().is_ok());
    }
}
