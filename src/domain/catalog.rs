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
    /// The rule and the size give a price beyond what cents can hold (a mistyped rule or an
    /// absurd size); no price is better than a wrapped one.
    #[error("the price is out of range")]
    OutOfRange,
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
                    // Whole started thousands over the largest tier; `size` is above it.
                    let over = i128::from(size) - i128::from(last.max_sq_ft);
                    let extra_k =
                        i64::try_from((over + 999) / 1000).map_err(|_| QuoteError::OutOfRange)?;
                    let price = extra_k
                        .checked_mul(self.per_extra_1000_sq_ft_cents.0)
                        .and_then(|extra| last.price_cents.0.checked_add(extra))
                        .map(Cents)
                        .ok_or(QuoteError::OutOfRange)?;
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
            add_ons = add_ons
                .checked_add(a.price_cents)
                .ok_or(QuoteError::OutOfRange)?;
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
            first_visit_total_cents: per_visit
                .checked_add(self.initial_fee_cents)
                .and_then(|t| t.checked_add(add_ons))
                .ok_or(QuoteError::OutOfRange)?,
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

    /// Found by fuzzing (`fuzz/corpus/pricing/crash-overflow-base-plus-fee`): prices and sizes
    /// near the limits of i64 overflowed (a panic in debug builds, a wrapped price in release).
    #[test]
    fn prices_beyond_i64_are_refused_not_wrapped() {
        let max = PricingRule {
            base_cents: Cents(i64::MAX),
            size_tiers: Vec::new(),
            per_extra_1000_sq_ft_cents: Cents(0),
            initial_fee_cents: Cents(1),
            add_ons: Vec::new(),
        };
        assert_eq!(max.quote(None, &[]), Err(QuoteError::OutOfRange));

        let mut tiered = rule();
        assert_eq!(
            tiered.quote(Some(i64::MAX), &[]),
            Err(QuoteError::OutOfRange),
            "extra thousands times the rate"
        );
        tiered.size_tiers[1].max_sq_ft = i64::MIN;
        tiered.size_tiers.truncate(1);
        tiered.size_tiers[0].max_sq_ft = i64::MIN;
        assert_eq!(
            tiered.quote(Some(i64::MAX), &[]),
            Err(QuoteError::OutOfRange),
            "a size far above a tier at the bottom of i64"
        );
        tiered.per_extra_1000_sq_ft_cents = Cents(0);
        let q = tiered.quote(Some(i64::MAX), &[]).expect("no extra charge");
        assert_eq!(q.per_visit_cents, Cents(12_900));

        let mut add_ons = rule();
        add_ons.add_ons[0].price_cents = Cents(i64::MAX);
        assert_eq!(
            add_ons.quote(Some(1), &["garage".into(), "garage".into()]),
            Err(QuoteError::OutOfRange)
        );
    }
}
