//! The schemes by name (normal, uniform, constants, Xavier, Kaiming, PyTorch's default), their
//! gains and fans, resolving a scheme to a distribution, and sampling it.

use crate::rng::{param_stream, unit_f64, Normal01};
use crate::Activation;
use serde::{Deserialize, Serialize};

/// Fan-in and fan-out of a weight tensor (for a Linear layer: inputs and outputs).
///
/// ```
/// use makemore_init::{Activation, Fans, Scheme};
/// let fans = Fans { fan_in: 100, fan_out: 300 };
/// let r = Scheme::XavierNormal { gain: Default::default(), scale: 1.0 }.resolve(fans, Activation::Identity).unwrap();
/// assert!((r.std() - (2.0f64 / 400.0).sqrt()).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fans {
    /// Number of inputs each output sees.
    pub fan_in: usize,
    /// Number of outputs each input feeds.
    pub fan_out: usize,
}

/// Which fan Kaiming schemes divide by.
///
/// ```
/// use makemore_init::FanMode;
/// assert_eq!(FanMode::parse("fan_out"), Some(FanMode::FanOut));
/// assert_eq!(FanMode::default(), FanMode::FanIn);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FanMode {
    /// Preserve the forward variance (PyTorch's default).
    #[default]
    FanIn,
    /// Preserve the backward variance.
    FanOut,
}

impl FanMode {
    /// Parses `fan_in` / `fan_out`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fan_in" => Some(FanMode::FanIn),
            "fan_out" => Some(FanMode::FanOut),
            _ => None,
        }
    }
}

/// The gain of a scheme: `"auto"` (the nonlinearity's PyTorch gain), `"empirical"` (the
/// variance-preserving gain computed numerically) or a number.
///
/// ```
/// use makemore_init::{Activation, Gain};
/// assert_eq!(Gain::parse("auto").unwrap().value(Activation::Tanh), 5.0 / 3.0);
/// assert!((Gain::parse("empirical").unwrap().value(Activation::Tanh) - 1.5925).abs() < 1e-3);
/// assert_eq!(Gain::parse("2.5"), Some(Gain::Value(2.5)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "GainRepr", into = "GainRepr")]
pub enum Gain {
    /// The gain `torch.nn.init.calculate_gain` gives for the following nonlinearity.
    #[default]
    Auto,
    /// `1 / sqrt(E[f(x)^2])`, see [`crate::empirical_gain`].
    Empirical,
    /// A fixed number.
    Value(f64),
}

/// How a gain is written in TOML or JSON: a number, or a word.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum GainRepr {
    Number(f64),
    Word(String),
}

impl TryFrom<GainRepr> for Gain {
    type Error = String;
    fn try_from(r: GainRepr) -> Result<Self, String> {
        match r {
            GainRepr::Number(v) => Ok(Gain::Value(v)),
            GainRepr::Word(w) => Gain::parse(&w).ok_or_else(|| {
                format!(r#"invalid value: string {w:?}, expected a number, "auto" or "empirical""#)
            }),
        }
    }
}

impl From<Gain> for GainRepr {
    fn from(g: Gain) -> Self {
        match g {
            Gain::Auto => GainRepr::Word("auto".into()),
            Gain::Empirical => GainRepr::Word("empirical".into()),
            Gain::Value(v) => GainRepr::Number(v),
        }
    }
}

impl Gain {
    /// Parses `auto`, `empirical` or a number; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Gain::Auto),
            "empirical" => Some(Gain::Empirical),
            n => n.parse().ok().map(Gain::Value),
        }
    }

    /// The number this gain stands for, given the following nonlinearity (see the type's example).
    pub fn value(&self, activation: Activation) -> f64 {
        match *self {
            Gain::Auto => activation.pytorch_gain(),
            Gain::Empirical => crate::empirical_gain(activation),
            Gain::Value(v) => v,
        }
    }
}

fn one() -> f64 {
    1.0
}

/// An initialization scheme, as named in a config file:
///
/// ```toml
/// scheme = "kaiming_normal"   # or xavier_uniform, pytorch_default, normal, ...
/// gain = "auto"               # "auto", "empirical" or a number
/// mode = "fan_in"             # Kaiming only
/// scale = 0.1                 # every scheme: a final multiplier
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scheme {
    /// N(0, std) x scale.
    Normal {
        /// Standard deviation.
        std: f64,
        /// Multiplier.
        #[serde(default = "one")]
        scale: f64,
    },
    /// U(-bound, bound) x scale.
    Uniform {
        /// Half-width.
        bound: f64,
        /// Multiplier.
        #[serde(default = "one")]
        scale: f64,
    },
    /// All zeros.
    Zeros,
    /// All ones x scale.
    Ones {
        /// Multiplier.
        #[serde(default = "one")]
        scale: f64,
    },
    /// A constant x scale.
    Constant {
        /// The value.
        value: f64,
        /// Multiplier.
        #[serde(default = "one")]
        scale: f64,
    },
    /// Glorot normal: std = gain * sqrt(2 / (fan_in + fan_out)).
    XavierNormal {
        /// Gain.
        #[serde(default)]
        gain: Gain,
        /// Multiplier.
        #[serde(default = "one")]
        scale: f64,
    },
    /// Glorot uniform: bound = gain * sqrt(6 / (fan_in + fan_out)).
    XavierUniform {
        /// Gain.
        #[serde(default)]
        gain: Gain,
        /// Multiplier.
        #[serde(default = "one")]
        scale: f64,
    },
    /// He normal: std = gain / sqrt(fan).
    KaimingNormal {
        /// Gain.
        #[serde(default)]
        gain: Gain,
        /// Which fan.
        #[serde(default)]
        mode: FanMode,
        /// Multiplier.
        #[serde(default = "one")]
        scale: f64,
    },
    /// He uniform: bound = gain * sqrt(3 / fan).
    KaimingUniform {
        /// Gain.
        #[serde(default)]
        gain: Gain,
        /// Which fan.
        #[serde(default)]
        mode: FanMode,
        /// Multiplier.
        #[serde(default = "one")]
        scale: f64,
    },
    /// `torch.nn.Linear`'s default for weight and bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    PytorchDefault {
        /// Multiplier.
        #[serde(default = "one")]
        scale: f64,
    },
}

/// The names of every scheme, as configs spell them.
pub const SCHEME_NAMES: &[&str] = &[
    "normal",
    "uniform",
    "zeros",
    "ones",
    "constant",
    "xavier_normal",
    "xavier_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "pytorch_default",
];

/// A scheme that cannot produce values.
///
/// ```
/// use makemore_init::{Activation, Fans, Scheme};
/// let e = Scheme::Uniform { bound: f64::NAN, scale: 1.0 }
///     .resolve(Fans { fan_in: 1, fan_out: 1 }, Activation::Tanh)
///     .unwrap_err();
/// assert_eq!(e.to_string(), "uniform: bound must be a finite number >= 0, got NaN");
/// ```
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InitError {
    /// A standard deviation or bound is negative or not finite.
    #[error("{scheme}: {field} must be a finite number >= 0, got {value}")]
    BadParameter {
        /// The scheme.
        scheme: &'static str,
        /// The field.
        field: &'static str,
        /// What was given.
        value: f64,
    },
    /// A fan the scheme divides by is zero.
    #[error("{scheme}: {fan} is 0; the scheme divides by it")]
    ZeroFan {
        /// The scheme.
        scheme: &'static str,
        /// `fan_in`, `fan_out` or `fan_in + fan_out`.
        fan: &'static str,
    },
    /// An unknown scheme name.
    #[error("unknown scheme {0:?}; expected one of: {names}", names = SCHEME_NAMES.join(", "))]
    UnknownScheme(String),
}

/// A distribution with its numbers worked out.
///
/// ```
/// use makemore_init::{Activation, Distribution, Fans, Scheme};
/// let r = Scheme::PytorchDefault { scale: 1.0 }.resolve(Fans { fan_in: 4, fan_out: 9 }, Activation::Tanh).unwrap();
/// assert_eq!(r.distribution, Distribution::Uniform { bound: 0.5 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Distribution {
    /// N(0, std).
    Normal {
        /// Standard deviation.
        std: f64,
    },
    /// U(-bound, bound).
    Uniform {
        /// Half-width.
        bound: f64,
    },
    /// Every value the same.
    Constant {
        /// The value.
        value: f64,
    },
}

/// A scheme resolved for one tensor: the gain it used and the distribution it draws from.
///
/// ```
/// use makemore_init::{Activation, Fans, Scheme};
/// let r = Scheme::KaimingUniform { gain: Default::default(), mode: Default::default(), scale: 1.0 }
///     .resolve(Fans { fan_in: 3, fan_out: 5 }, Activation::Identity)
///     .unwrap();
/// assert_eq!(r.bound(), Some(1.0)); // sqrt(3 / 3)
/// assert!(r.sample(1_000, 1, "w").iter().all(|v| v.abs() <= 1.0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Resolved {
    /// The scheme's name.
    pub scheme: &'static str,
    /// The gain (1 for schemes without one).
    pub gain: f64,
    /// The distribution, scale applied.
    pub distribution: Distribution,
}

impl Resolved {
    /// The theoretical standard deviation of the values (bound / sqrt 3 for uniform ones).
    pub fn std(&self) -> f64 {
        match self.distribution {
            Distribution::Normal { std } => std,
            Distribution::Uniform { bound } => bound / 3f64.sqrt(),
            Distribution::Constant { .. } => 0.0,
        }
    }

    /// The bound of a uniform distribution, `None` for the others.
    pub fn bound(&self) -> Option<f64> {
        match self.distribution {
            Distribution::Uniform { bound } => Some(bound),
            _ => None,
        }
    }

    /// Draws `n` values from the stream of (`seed`, `path`), see [`crate::param_stream`].
    pub fn sample(&self, n: usize, seed: u64, path: &str) -> Vec<f32> {
        match self.distribution {
            Distribution::Constant { value } => vec![value as f32; n],
            Distribution::Normal { std } => {
                let mut normal = Normal01::new(param_stream(seed, path));
                (0..n).map(|_| (normal.sample() * std) as f32).collect()
            }
            Distribution::Uniform { bound } => {
                let mut rng = param_stream(seed, path);
                (0..n)
                    .map(|_| ((2.0 * unit_f64(&mut rng) - 1.0) * bound) as f32)
                    .collect()
            }
        }
    }
}

fn check(scheme: &'static str, field: &'static str, value: f64) -> Result<f64, InitError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(InitError::BadParameter {
            scheme,
            field,
            value,
        })
    }
}

fn fan(scheme: &'static str, name: &'static str, value: usize) -> Result<f64, InitError> {
    if value == 0 {
        Err(InitError::ZeroFan { scheme, fan: name })
    } else {
        Ok(value as f64)
    }
}

impl Scheme {
    /// The scheme's name, as configs spell it: `Scheme::Zeros.name() == "zeros"`.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Normal { .. } => "normal",
            Scheme::Uniform { .. } => "uniform",
            Scheme::Zeros => "zeros",
            Scheme::Ones { .. } => "ones",
            Scheme::Constant { .. } => "constant",
            Scheme::XavierNormal { .. } => "xavier_normal",
            Scheme::XavierUniform { .. } => "xavier_uniform",
            Scheme::KaimingNormal { .. } => "kaiming_normal",
            Scheme::KaimingUniform { .. } => "kaiming_uniform",
            Scheme::PytorchDefault { .. } => "pytorch_default",
        }
    }

    /// Builds a scheme from command-line parts: a name, plus the fields that apply to it.
    /// `std` / `bound` / `value` default to 1 / 1 / 0 where a scheme needs them.
    ///
    /// ```
    /// use makemore_init::{FanMode, Gain, Scheme};
    /// let s = Scheme::from_parts("normal", Gain::Auto, FanMode::FanIn, 0.2, Some(1.0), None, None).unwrap();
    /// assert_eq!(s, Scheme::Normal { std: 1.0, scale: 0.2 });
    /// assert!(Scheme::from_parts("he", Gain::Auto, FanMode::FanIn, 1.0, None, None, None).is_err());
    /// ```
    pub fn from_parts(
        name: &str,
        gain: Gain,
        mode: FanMode,
        scale: f64,
        std: Option<f64>,
        bound: Option<f64>,
        value: Option<f64>,
    ) -> Result<Self, InitError> {
        Ok(match name {
            "normal" => Scheme::Normal {
                std: std.unwrap_or(1.0),
                scale,
            },
            "uniform" => Scheme::Uniform {
                bound: bound.unwrap_or(1.0),
                scale,
            },
            "zeros" => Scheme::Zeros,
            "ones" => Scheme::Ones { scale },
            "constant" => Scheme::Constant {
                value: value.unwrap_or(0.0),
                scale,
            },
            "xavier_normal" => Scheme::XavierNormal { gain, scale },
            "xavier_uniform" => Scheme::XavierUniform { gain, scale },
            "kaiming_normal" => Scheme::KaimingNormal { gain, mode, scale },
            "kaiming_uniform" => Scheme::KaimingUniform { gain, mode, scale },
            "pytorch_default" => Scheme::PytorchDefault { scale },
            other => return Err(InitError::UnknownScheme(other.to_owned())),
        })
    }

    /// Works out the distribution for a tensor with these fans, followed by `activation` (see
    /// the crate's example).
    pub fn resolve(&self, fans: Fans, activation: Activation) -> Result<Resolved, InitError> {
        let name = self.name();
        let gain_of = |g: &Gain| check(name, "gain", g.value(activation));
        let kaiming_fan = |mode: &FanMode| match mode {
            FanMode::FanIn => fan(name, "fan_in", fans.fan_in),
            FanMode::FanOut => fan(name, "fan_out", fans.fan_out),
        };
        let (gain, distribution) = match self {
            Scheme::Normal { std, scale } => (
                1.0,
                Distribution::Normal {
                    std: check(name, "std", *std)? * check(name, "scale", *scale)?,
                },
            ),
            Scheme::Uniform { bound, scale } => (
                1.0,
                Distribution::Uniform {
                    bound: check(name, "bound", *bound)? * check(name, "scale", *scale)?,
                },
            ),
            Scheme::Zeros => (1.0, Distribution::Constant { value: 0.0 }),
            Scheme::Ones { scale } => (
                1.0,
                Distribution::Constant {
                    value: check(name, "scale", *scale)?,
                },
            ),
            Scheme::Constant { value, scale } => {
                if !value.is_finite() {
                    return Err(InitError::BadParameter {
                        scheme: name,
                        field: "value",
                        value: *value,
                    });
                }
                (
                    1.0,
                    Distribution::Constant {
                        value: value * check(name, "scale", *scale)?,
                    },
                )
            }
            Scheme::XavierNormal { gain, scale } => {
                let g = gain_of(gain)?;
                let sum = fan(name, "fan_in + fan_out", fans.fan_in + fans.fan_out)?;
                let std = g * (2.0 / sum).sqrt() * check(name, "scale", *scale)?;
                (g, Distribution::Normal { std })
            }
            Scheme::XavierUniform { gain, scale } => {
                let g = gain_of(gain)?;
                let sum = fan(name, "fan_in + fan_out", fans.fan_in + fans.fan_out)?;
                let bound = g * (6.0 / sum).sqrt() * check(name, "scale", *scale)?;
                (g, Distribution::Uniform { bound })
            }
            Scheme::KaimingNormal { gain, mode, scale } => {
                let g = gain_of(gain)?;
                let std = g / kaiming_fan(mode)?.sqrt() * check(name, "scale", *scale)?;
                (g, Distribution::Normal { std })
            }
            Scheme::KaimingUniform { gain, mode, scale } => {
                let g = gain_of(gain)?;
                let bound = g * (3.0 / kaiming_fan(mode)?).sqrt() * check(name, "scale", *scale)?;
                (g, Distribution::Uniform { bound })
            }
            Scheme::PytorchDefault { scale } => {
                let bound =
                    1.0 / fan(name, "fan_in", fans.fan_in)?.sqrt() * check(name, "scale", *scale)?;
                (1.0, Distribution::Uniform { bound })
            }
        };
        Ok(Resolved {
            scheme: name,
            gain,
            distribution,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIG: Fans = Fans {
        fan_in: 300,
        fan_out: 400,
    };
    const N: usize = 120_000;

    fn stats(v: &[f32]) -> (f64, f64, f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let min = v.iter().cloned().fold(f32::INFINITY, f32::min) as f64;
        let max = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        (mean, var.sqrt(), min, max)
    }

    fn all_random_schemes() -> Vec<Scheme> {
        let mut v = vec![
            Scheme::Normal {
                std: 0.3,
                scale: 1.0,
            },
            Scheme::Uniform {
                bound: 0.5,
                scale: 2.0,
            },
            Scheme::XavierNormal {
                gain: Gain::Auto,
                scale: 1.0,
            },
            Scheme::XavierUniform {
                gain: Gain::Value(2.0),
                scale: 1.0,
            },
            Scheme::PytorchDefault { scale: 0.1 },
        ];
        for mode in [FanMode::FanIn, FanMode::FanOut] {
            v.push(Scheme::KaimingNormal {
                gain: Gain::Auto,
                mode,
                scale: 1.0,
            });
            v.push(Scheme::KaimingUniform {
                gain: Gain::Empirical,
                mode,
                scale: 0.2,
            });
        }
        v
    }

    #[test]
    fn sampled_std_and_bounds_within_two_percent() {
        for scheme in all_random_schemes() {
            let r = scheme.resolve(BIG, Activation::Tanh).unwrap();
            let v = r.sample(N, 7, scheme.name());
            let (mean, std, min, max) = stats(&v);
            assert!(
                (std / r.std() - 1.0).abs() < 0.02,
                "{scheme:?}: std {std} vs {}",
                r.std()
            );
            assert!(mean.abs() < 0.02 * r.std() * 3.0, "{scheme:?}: mean {mean}");
            if let Some(b) = r.bound() {
                assert!(
                    min >= -b && max <= b,
                    "{scheme:?}: [{min}, {max}] outside +-{b}"
                );
                assert!(
                    min < -0.98 * b && max > 0.98 * b,
                    "{scheme:?} does not fill its bound"
                );
            }
        }
    }

    #[test]
    fn formulas() {
        let fans = Fans {
            fan_in: 30,
            fan_out: 200,
        };
        let k = |mode| Scheme::KaimingNormal {
            gain: Gain::Auto,
            mode,
            scale: 1.0,
        };
        let r_in = k(FanMode::FanIn).resolve(fans, Activation::Tanh).unwrap();
        let r_out = k(FanMode::FanOut).resolve(fans, Activation::Tanh).unwrap();
        assert!((r_in.std() - 0.304_290_309_725).abs() < 1e-9);
        assert!((r_out.std() - (5.0 / 3.0) / 200f64.sqrt()).abs() < 1e-12);
        assert!(
            r_in.std() > 2.0 * r_out.std(),
            "fan modes must differ on a non-square layer"
        );
        let xu = Scheme::XavierUniform {
            gain: Gain::Value(1.0),
            scale: 1.0,
        };
        let r = xu.resolve(fans, Activation::Relu).unwrap();
        assert!((r.bound().unwrap() - (6.0f64 / 230.0).sqrt()).abs() < 1e-12);
        let ku = Scheme::KaimingUniform {
            gain: Gain::Auto,
            mode: FanMode::FanIn,
            scale: 1.0,
        };
        let r = ku.resolve(fans, Activation::Relu).unwrap();
        assert!((r.bound().unwrap() - 2f64.sqrt() * (3.0f64 / 30.0).sqrt()).abs() < 1e-12);
        let pd = Scheme::PytorchDefault { scale: 1.0 }
            .resolve(fans, Activation::Tanh)
            .unwrap();
        assert!((pd.bound().unwrap() - 1.0 / 30f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn kaiming_fan_modes_differ_when_sampled() {
        let fans = Fans {
            fan_in: 100,
            fan_out: 1_200,
        };
        let mut stds = vec![];
        for mode in [FanMode::FanIn, FanMode::FanOut] {
            let r = Scheme::KaimingNormal {
                gain: Gain::Auto,
                mode,
                scale: 1.0,
            }
            .resolve(fans, Activation::Relu)
            .unwrap();
            stds.push(stats(&r.sample(N, 1, "w")).1);
        }
        assert!(stds[0] / stds[1] > 3.0, "{stds:?}");
    }

    #[test]
    fn same_seed_same_values_other_path_other_values() {
        let r = Scheme::Normal {
            std: 1.0,
            scale: 1.0,
        }
        .resolve(BIG, Activation::Tanh)
        .unwrap();
        assert_eq!(r.sample(100, 5, "a.weight"), r.sample(100, 5, "a.weight"));
        assert_ne!(r.sample(100, 5, "a.weight"), r.sample(100, 5, "b.weight"));
        assert_ne!(r.sample(100, 5, "a.weight"), r.sample(100, 6, "a.weight"));
    }

    #[test]
    fn bad_parameters() {
        let tanh = Activation::Tanh;
        let e = Scheme::Normal {
            std: -1.0,
            scale: 1.0,
        }
        .resolve(BIG, tanh)
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "normal: std must be a finite number >= 0, got -1"
        );
        let zero = Fans {
            fan_in: 0,
            fan_out: 5,
        };
        let k = Scheme::KaimingNormal {
            gain: Gain::Auto,
            mode: FanMode::FanIn,
            scale: 1.0,
        };
        assert_eq!(
            k.resolve(zero, tanh).unwrap_err(),
            InitError::ZeroFan {
                scheme: "kaiming_normal",
                fan: "fan_in"
            }
        );
        let g = Scheme::XavierNormal {
            gain: Gain::Value(f64::NAN),
            scale: 1.0,
        };
        assert!(matches!(
            g.resolve(BIG, tanh),
            Err(InitError::BadParameter { field: "gain", .. })
        ));
        let u = Scheme::from_parts("glorot", Gain::Auto, FanMode::FanIn, 1.0, None, None, None);
        assert!(u.unwrap_err().to_string().contains("kaiming_normal"));
    }

    #[test]
    fn toml_round_trip_and_errors() {
        let s: Scheme =
            toml::from_str("scheme = \"kaiming_normal\"\ngain = \"auto\"\nmode = \"fan_out\"")
                .unwrap();
        assert_eq!(
            s,
            Scheme::KaimingNormal {
                gain: Gain::Auto,
                mode: FanMode::FanOut,
                scale: 1.0
            }
        );
        let s: Scheme = toml::from_str("scheme = \"xavier_normal\"\ngain = 2").unwrap();
        assert_eq!(
            s,
            Scheme::XavierNormal {
                gain: Gain::Value(2.0),
                scale: 1.0
            }
        );
        let e = toml::from_str::<Scheme>("scheme = \"glorot\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown variant `glorot`") && e.contains("kaiming_normal"),
            "{e}"
        );
        let e = toml::from_str::<Scheme>("scheme = \"normal\"\nstd = 1\nstdd = 2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `stdd`"), "{e}");
        let e = toml::from_str::<Scheme>("scheme = \"kaiming_normal\"\ngain = \"big\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("auto"), "{e}");
    }
}
