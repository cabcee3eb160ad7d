//! Initializers for makemore-rs: every scheme the lecture and PyTorch use, by name, with the
//! number each one produces explained.
//!
//! ```
//! use makemore_init::{Activation, Fans, Gain, Scheme};
//!
//! let scheme = Scheme::KaimingNormal { gain: Gain::Auto, mode: Default::default(), scale: 1.0 };
//! let r = scheme.resolve(Fans { fan_in: 30, fan_out: 200 }, Activation::Tanh).unwrap();
//! assert!((r.gain - 5.0 / 3.0).abs() < 1e-12);
//! assert!((r.std() - (5.0 / 3.0) / 30f64.sqrt()).abs() < 1e-12);
//!
//! // Values come from a host-side ChaCha stream keyed by (seed, parameter path).
//! let w = r.sample(30 * 200, 42, "layers.0.linear.weight");
//! assert_eq!(w.len(), 6000);
//! assert_eq!(w, r.sample(30 * 200, 42, "layers.0.linear.weight"));
//! ```
//!
//! Nothing here knows about tensors or devices: the model crate turns the `Vec<f32>` into a
//! tensor on whatever device it runs on, which is why one seed gives identical initial weights
//! on every backend.

#![warn(missing_docs)]

mod activation;
mod rng;
mod roles;
mod scheme;

pub use activation::{empirical_gain, Activation};
pub use rng::{param_stream, Normal01};
pub use roles::{InitRoles, Role};
pub use scheme::{Distribution, FanMode, Fans, Gain, InitError, Resolved, Scheme};
