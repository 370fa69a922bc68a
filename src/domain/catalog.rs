//! The service catalog and its pricing rules. A quote is computed here and only here, and
//! it carries the rule that produced it so a customer or CSR can see why.

use serde::{Deserialize, Serialize};

use super::money::Cents;

/// How a catalog service is priced: a base price, optionally replaced by a size tier, plus an
/// initial fee for recurring plans and optional add-ons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingRule {
    pub base_cents: Cents,
    /// Ascending by `max_sq_ft`; the first tier whose bound covers the property applies.
    /// A property larger than every tier pays the last tier plus `per_extra_1000_sq_ft`.
    #[serde(default)]
    pub size_tiers: Vec<SizeTier>,
    #[serde(default)]
    pub per_extra_1000_sq_ft_cents: Cents,
    #[serde(default)]
    pub initial_fee_cents: Cents,
    #[serde(default)]
    pub add_ons: Vec<AddOn>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeTier {
    pub max_sq_ft: i64,
    pub price_cents: Cents,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOn {
    pub code: String,
    pub name: String,
    pub price_cents: Cents,
}

/// A computed price with the explanation of the rule that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub per_visit_cents: Cents,
    pub initial_fee_cents: Cents,
    pub add_ons_cents: Cents,
    /// What the first visit costs: per-visit + initial fee + add-ons.
    pub first_visit_total_cents: Cents,
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("unknown add-on `{0}`")]
    UnknownAddOn(String),
}

impl PricingRule {
    pub fn quote(&self, sq_ft: Option<i64>, add_on_codes: &[String]) -> Result<Quote, QuoteError> {
        let (per_visit, mut rule) = match (sq_ft, self.size_tiers.as_slice()) {
            (Some(size), tiers) if !tiers.is_empty() => {
                if let Some(t) = tiers.iter().find(|t| size <= t.max_sq_ft) {
                    (
                        t.price_cents,
                        format!("size tier up to {} sq ft: {}", t.max_sq_ft, t.price_cents),
                    )
                } else {
                    let last = &tiers[tiers.len() - 1];
                    let extra_k = (size - last.max_sq_ft + 999) / 1000;
                    let price =
                        last.price_cents + Cents(extra_k * self.per_extra_1000_sq_ft_cents.0);
                    (
                        price,
                        format!(
                            "largest tier ({} sq ft) {} + {} x {} per extra 1,000 sq ft",
                            last.max_sq_ft,
                            last.price_cents,
                            extra_k,
                            self.per_extra_1000_sq_ft_cents
                        ),
                    )
                }
            }
            _ => (self.base_cents, format!("base price {}", self.base_cents)),
        };
        let mut add_ons = Cents::ZERO;
        for code in add_on_codes {
            let a = self
                .add_ons
                .iter()
                .find(|a| a.code.eq_ignore_ascii_case(code))
                .ok_or_else(|| QuoteError::UnknownAddOn(code.clone()))?;
            add_ons = add_ons + a.price_cents;
            rule.push_str(&format!("; add-on {} {}", a.name, a.price_cents));
        }
        if self.initial_fee_cents > Cents::ZERO {
            rule.push_str(&format!(
                "; one-time initial fee {}",
                self.initial_fee_cents
            ));
        }
        Ok(Quote {
            per_visit_cents: per_visit,
            initial_fee_cents: self.initial_fee_cents,
            add_ons_cents: add_ons,
            first_visit_total_cents: per_visit + self.initial_fee_cents + add_ons,
            rule,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> PricingRule {
        PricingRule {
            base_cents: Cents(12_900),
            size_tiers: vec![
                SizeTier {
                    max_sq_ft: 2000,
                    price_cents: Cents(12_900),
                },
                SizeTier {
                    max_sq_ft: 3500,
                    price_cents: Cents(14_900),
                },
            ],
            per_extra_1000_sq_ft_cents: Cents(2_000),
            initial_fee_cents: Cents(9_900),
            add_ons: vec![AddOn {
                code: "garage".into(),
                name: "Garage".into(),
                price_cents: Cents(2_500),
            }],
        }
    }

    #[test]
    fn tiers_overflow_initial_fee_and_add_ons() {
        let q = rule().quote(Some(1800), &[]).expect("quote");
        assert_eq!(
            (q.per_visit_cents, q.first_visit_total_cents),
            (Cents(12_900), Cents(22_800))
        );
        let q = rule().quote(Some(3500), &["GARAGE".into()]).expect("quote");
        assert_eq!(
            (q.per_visit_cents, q.first_visit_total_cents),
            (Cents(14_900), Cents(27_300))
        );
        // 5,200 sq ft: 1,700 over the last tier → 2 extra thousands.
        let q = rule().quote(Some(5200), &[]).expect("quote");
        assert_eq!(q.per_visit_cents, Cents(18_900));
        assert!(q.rule.contains("per extra 1,000 sq ft"), "{}", q.rule);
        let q = rule().quote(None, &[]).expect("quote");
        assert_eq!(q.per_visit_cents, Cents(12_900));
        assert_eq!(
            rule().quote(Some(1), &["pool".into()]),
            Err(QuoteError::UnknownAddOn("pool".into()))
        );
    }
}
