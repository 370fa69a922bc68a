//! Seeded worlds: the demo tenant every fresh install starts with (plus a second tenant that
//! proves isolation), and large generated tenants for load and search tests. The data lives
//! in `fixtures/demo/` (embedded at build time, so the binary needs no files), and every
//! world is deterministic: same inputs, same rows.

mod demo;
mod fixtures;
mod large;
pub(crate) mod rng;
mod scaffold;

#[cfg(test)]
mod tests;

pub use demo::{seed_demo, DemoSummary, DEMO_SLUG, NORTHWIND_SLUG};
pub use large::{seed_large, seed_large_with_progress, LargeProgress};
