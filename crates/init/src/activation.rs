//! The nonlinearities a layer may feed: their names, their values on the host, PyTorch's gain
//! for each, and the empirical variance-preserving gain by quadrature.

use serde::{Deserialize, Serialize};

/// A nonlinearity that follows a layer; it decides the layer's `auto` gain.
///
/// In TOML: `activation = "tanh"` or `activation = { leaky_relu = { slope = 0.01 } }`.
///
/// ```
/// use makemore_init::Activation;
/// let a = Activation::parse("leaky_relu:0.2").unwrap();
/// assert_eq!(a.name(), "leaky_relu");
/// assert_eq!(a.apply(-1.0), -0.2);
/// assert!(Activation::Tanh.saturates() && !Activation::Relu.saturates());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Hyperbolic tangent.
    #[default]
    Tanh,
    /// max(0, x).
    Relu,
    /// max(slope * x, x).
    LeakyRelu {
        /// Negative slope.
        slope: f64,
    },
    /// x * Phi(x) (the exact erf form).
    Gelu,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// No nonlinearity.
    Identity,
}

impl Activation {
    /// The name used in configs and reports: `Activation::Gelu.name() == "gelu"`.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Gelu => "gelu",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
        }
    }

    /// Parses a name as given on the command line (`leaky_relu` takes slope 0.01, PyTorch's
    /// default; `leaky_relu:0.2` sets it).
    ///
    /// ```
    /// use makemore_init::Activation;
    /// assert_eq!(Activation::parse("leaky_relu"), Some(Activation::LeakyRelu { slope: 0.01 }));
    /// assert_eq!(Activation::parse("swish"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "gelu" => Activation::Gelu,
            "sigmoid" => Activation::Sigmoid,
            "identity" | "linear" => Activation::Identity,
            "leaky_relu" => Activation::LeakyRelu { slope: 0.01 },
            other => {
                let slope = other.strip_prefix("leaky_relu:")?.parse().ok()?;
                Activation::LeakyRelu { slope }
            }
        })
    }

    /// The names [`Activation::parse`] accepts, for error messages:
    /// `Activation::NAMES.contains(&"tanh")`.
    pub const NAMES: &'static [&'static str] = &[
        "tanh",
        "relu",
        "leaky_relu[:slope]",
        "gelu",
        "sigmoid",
        "identity",
    ];

    /// The function itself, in f64: `Activation::Relu.apply(-2.0) == 0.0`.
    pub fn apply(&self, x: f64) -> f64 {
        match *self {
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { slope } => {
                if x >= 0.0 {
                    x
                } else {
                    slope * x
                }
            }
            Activation::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Identity => x,
        }
    }

    /// The gain `torch.nn.init.calculate_gain` gives. GELU has none in PyTorch; it gets its
    /// empirical gain (see [`empirical_gain`]).
    ///
    /// ```
    /// use makemore_init::Activation;
    /// assert_eq!(Activation::Tanh.pytorch_gain(), 5.0 / 3.0);
    /// assert_eq!(Activation::Relu.pytorch_gain(), 2f64.sqrt());
    /// ```
    pub fn pytorch_gain(&self) -> f64 {
        match *self {
            Activation::Identity | Activation::Sigmoid => 1.0,
            Activation::Tanh => 5.0 / 3.0,
            Activation::Relu => std::f64::consts::SQRT_2,
            Activation::LeakyRelu { slope } => (2.0 / (1.0 + slope * slope)).sqrt(),
            Activation::Gelu => empirical_gain(*self),
        }
    }

    /// Whether the output saturates at both ends (tanh, sigmoid) rather than being clamped to
    /// zero on one side (relu-like) or not at all: `Activation::Sigmoid.saturates()`.
    pub fn saturates(&self) -> bool {
        matches!(self, Activation::Tanh | Activation::Sigmoid)
    }
}

/// The variance-preserving gain of `f`: `1 / sqrt(E[f(x)^2])` for `x ~ N(0, 1)`, computed by
/// composite Simpson quadrature over [-12, 12] (the tails beyond carry less than 1e-30 of the mass).
///
/// Why it differs from PyTorch's table: PyTorch's 5/3 for tanh is a heuristic chosen to keep
/// activations away from saturation in deep stacks; the exact second moment of tanh of a unit
/// Gaussian is E[tanh(x)^2] = 0.3943, which gives 1.5925. For relu the two agree (sqrt 2),
/// since E[relu(x)^2] = 1/2 exactly.
///
/// ```
/// use makemore_init::{empirical_gain, Activation};
/// assert!((empirical_gain(Activation::Relu) - 2f64.sqrt()).abs() < 1e-9);
/// assert!((empirical_gain(Activation::Tanh) - 1.5925).abs() < 1e-3);
/// ```
pub fn empirical_gain(f: Activation) -> f64 {
    const HALF_WIDTH: f64 = 12.0;
    const INTERVALS: usize = 24_000; // even, as Simpson's rule requires
    let h = 2.0 * HALF_WIDTH / INTERVALS as f64;
    let density = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let g = |x: f64| {
        let y = f.apply(x);
        y * y * density(x)
    };
    let mut sum = g(-HALF_WIDTH) + g(HALF_WIDTH);
    for i in 1..INTERVALS {
        let x = -HALF_WIDTH + i as f64 * h;
        sum += if i % 2 == 1 { 4.0 } else { 2.0 } * g(x);
    }
    let second_moment = sum * h / 3.0;
    1.0 / second_moment.sqrt()
}

/// The error function (Abramowitz-Stegun 7.1.26 is too coarse for gains; this is the
/// series / continued-fraction pair, accurate to ~1e-15).
fn erf(x: f64) -> f64 {
    if x < 0.0 {
        return -erf(-x);
    }
    if x < 3.0 {
        // Maclaurin series: erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        for n in 1..200 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        return sum * 2.0 / std::f64::consts::PI.sqrt();
    }
    // Continued fraction for erfc, evaluated backwards (Lentz not needed at x >= 3).
    let mut frac = 0.0;
    for k in (1..60).rev() {
        frac = (k as f64 / 2.0) / (x + frac);
    }
    1.0 - (-x * x).exp() / (std::f64::consts::PI.sqrt() * (x + frac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytorch_gain_table() {
        assert_eq!(Activation::Identity.pytorch_gain(), 1.0);
        assert_eq!(Activation::Sigmoid.pytorch_gain(), 1.0);
        assert!((Activation::Tanh.pytorch_gain() - 1.666_666_666_7).abs() < 1e-9);
        assert!((Activation::Relu.pytorch_gain() - 2f64.sqrt()).abs() < 1e-12);
        let lr = Activation::LeakyRelu { slope: 0.2 }.pytorch_gain();
        assert!((lr - (2.0f64 / 1.04).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn empirical_gains_within_half_a_percent() {
        let relu = empirical_gain(Activation::Relu);
        assert!(
            (relu / std::f64::consts::SQRT_2 - 1.0).abs() < 0.005,
            "{relu}"
        );
        let tanh = empirical_gain(Activation::Tanh);
        assert!((tanh / 1.5925 - 1.0).abs() < 0.005, "{tanh}");
        // E[tanh(x)^2] = 0.3943
        assert!((1.0 / (tanh * tanh) - 0.3943).abs() < 1e-4);
        // identity: E[x^2] = 1
        assert!((empirical_gain(Activation::Identity) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn erf_values() {
        assert!((erf(0.5) - 0.520_499_877_813_046_5).abs() < 1e-13);
        assert!((erf(3.5) - 0.999_999_256_901_627_7).abs() < 1e-13);
        assert!((erf(-1.0) + 0.842_700_792_949_714_9).abs() < 1e-13);
    }

    #[test]
    fn parse_names() {
        assert_eq!(Activation::parse("tanh"), Some(Activation::Tanh));
        assert_eq!(
            Activation::parse("leaky_relu:0.2"),
            Some(Activation::LeakyRelu { slope: 0.2 })
        );
        assert_eq!(Activation::parse("swish"), None);
    }
}
