//! The cost rule against exact rational arithmetic.
use argus_domain::ids::PriceId;
use argus_domain::price::{PriceBook, PriceVersion, Rates, ServiceTier, Terms, Tokens};
use chrono::TimeZone;
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{One, Signed, Zero};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn rational(d: Decimal) -> BigRational {
    let scale = BigInt::from(10u32).pow(d.scale());
    BigRational::new(BigInt::from(d.mantissa()), scale)
}

/// Exact cost in nano-units, rounded half to even, by big rationals.
fn oracle(r: &Rates, t: &Tokens) -> BigInt {
    let input = rational(r.input_per_mtok);
    let cached = rational(r.cached_input_per_mtok.unwrap_or(r.input_per_mtok));
    let write = rational(r.cache_write_per_mtok.unwrap_or(r.input_per_mtok));
    let write_1h = rational(r.cache_write_1h_per_mtok.or(r.cache_write_per_mtok).unwrap_or(r.input_per_mtok));
    let output = rational(r.output_per_mtok);
    let n = |x: u64| BigRational::from_integer(BigInt::from(x));
    let exact = (n(t.input) * input
        + n(t.output) * output
        + n(t.cached_input) * cached
        + n(t.cache_write) * write
        + n(t.cache_write_1h) * write_1h)
        / BigRational::from_integer(BigInt::from(1_000_000));
    let nanos = exact * BigRational::from_integer(BigInt::from(1_000_000_000));
    let floor = nanos.floor();
    let frac = &nanos - &floor;
    let half = BigRational::new(BigInt::one(), BigInt::from(2));
    let fl = floor.to_integer();
    if frac > half || (frac == half && (&fl % BigInt::from(2)) != BigInt::zero()) {
        fl + BigInt::one()
    } else {
        assert!(!frac.is_negative());
        fl
    }
}

fn rate() -> impl Strategy<Value = Decimal> {
    // mantissas up to 1e11 with 0..=6 decimals: 0.000001 .. 100000 per Mtok,
    // including sub-nano per-token rates such as 0.0375.
    (0u64..=100_000_000_000u64, 0u32..=6).prop_map(|(m, s)| {
        let d = Decimal::new(m as i64, s);
        if d > Decimal::from(100_000) {
            Decimal::new((m % 100_000) as i64, s)
        } else {
            d
        }
    })
}

fn tokens() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..10, 0u64..100_000, 0u64..=1_000_000_000]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn cost_equals_exact_rational_rounded_half_even(
        i in rate(), o in rate(), c in proptest::option::of(rate()), w in proptest::option::of(rate()), h in proptest::option::of(rate()),
        ti in tokens(), to in tokens(), tc in tokens(), tw in tokens(), th in tokens()
    ) {
        let r = Rates { input_per_mtok: i, output_per_mtok: o, cached_input_per_mtok: c, cache_write_per_mtok: w, cache_write_1h_per_mtok: h };
        let t = Tokens { input: ti, output: to, cached_input: tc, cache_write: tw, cache_write_1h: th };
        let got = r.cost(&t).nanos().expect("a cost always has at most 9 decimals");
        prop_assert_eq!(BigInt::from(got), oracle(&r, &t));
    }

    /// The tier rule: a prompt above a threshold prices every token at the
    /// rates of the largest threshold exceeded; at or below every threshold,
    /// the standard rates. Checked against the rational oracle.
    #[test]
    fn a_tier_prices_the_whole_record(
        base in rate(), t1 in rate(), t2 in rate(), o in rate(),
        lo in 1u64..300_000, gap in 1u64..300_000,
        ti in tokens(), tc in tokens(), tw in 0u64..400_000, th in 0u64..400_000, to in tokens()
    ) {
        let at0 = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let rates = |i: Decimal| Rates { input_per_mtok: i, output_per_mtok: o, cached_input_per_mtok: None, cache_write_per_mtok: None, cache_write_1h_per_mtok: None };
        let v = |id: i64, i: Decimal, above: Option<u64>| PriceVersion {
            id: PriceId(id), org: None, provider: "google".into(), model: "m".into(), effective_from: at0, currency: "USD".into(),
            rates: rates(i), source: None, terms: Terms { above_input_tokens: above, ..Terms::default() },
        };
        let hi = lo + gap;
        let book = PriceBook::new([v(1, base, None), v(2, t1, Some(lo)), v(3, t2, Some(hi))], "USD");
        let t = Tokens { input: ti, output: to, cached_input: tc, cache_write: tw, cache_write_1h: th };
        let prompt = ti + tc + tw + th;
        let expect = if prompt > hi { t2 } else if prompt > lo { t1 } else { base };
        let p = book.price("google", "m", ServiceTier::Standard, &t, at0).unwrap();
        prop_assert_eq!(BigInt::from(p.cost.nanos().unwrap()), oracle(&rates(expect), &t));
    }
}

#[test]
fn the_sub_nano_example_from_the_brief() {
    let r = Rates {
        input_per_mtok: Decimal::new(375, 4),
        output_per_mtok: Decimal::ZERO,
        cached_input_per_mtok: None,
        cache_write_per_mtok: None,
        cache_write_1h_per_mtok: None,
    };
    for n in [1u64, 2, 3, 7, 13, 40, 1_000_001] {
        let t = Tokens { input: n, ..Tokens::default() };
        assert_eq!(BigInt::from(r.cost(&t).nanos().unwrap()), oracle(&r, &t), "{n} tokens at 0.0375 per million");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    /// The conversion rule: cost x rate, rounded half to even to 9 places,
    /// equals the exact rational product so rounded.
    #[test]
    fn conversion_equals_exact_rational_rounded_half_even(
        nanos in prop_oneof![0i64..1000, 0i64..=10_000_000_000_000i64],
        s in 0u32..=12, m in 1u64..=100_000_000_000_000_000u64
    ) {
        // Mantissas below 10^5 x 10^s: rates up to the largest accepted.
        let m = 1 + m % (100_000 * 10u64.pow(s));
        let rate = Decimal::new(m as i64, s);
        let got = argus_domain::fx::convert(argus_domain::Money::from_nanos(nanos), rate).unwrap().nanos().unwrap();
        let exact = BigRational::from_integer(BigInt::from(nanos)) * rational(rate);
        let floor = exact.floor();
        let frac = &exact - &floor;
        let half = BigRational::new(BigInt::one(), BigInt::from(2));
        let fl = floor.to_integer();
        let want = if frac > half || (frac == half && (&fl % BigInt::from(2)) != BigInt::zero()) { fl + BigInt::one() } else { fl };
        prop_assert_eq!(BigInt::from(got), want);
    }
}
