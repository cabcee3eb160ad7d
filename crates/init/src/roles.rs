//! The roles a tensor plays (embedding, hidden, hidden bias, output, output bias) and the
//! per-role config that picks a scheme for each.

use crate::{FanMode, Gain, Scheme};
use serde::{Deserialize, Serialize};

/// The part a tensor plays in the model; each role has its own scheme.
///
/// ```
/// use makemore_init::{InitRoles, Role};
/// assert_eq!(InitRoles::default().get(Role::OutputBias).name(), "zeros");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The embedding table.
    Embedding,
    /// Weights of hidden Linear layers.
    Hidden,
    /// Biases of hidden Linear layers (when they have one).
    HiddenBias,
    /// The last Linear layer's weight.
    Output,
    /// The last Linear layer's bias.
    OutputBias,
}

/// One scheme per role. The defaults are the lecture's final recipe: embedding N(0, 1), hidden
/// weights Kaiming normal with the activation's gain, hidden biases zero (and absent when
/// BatchNorm follows), output weight PyTorch's default scaled by 0.1, output bias zero.
///
/// ```
/// use makemore_init::InitRoles;
/// let roles: InitRoles = toml::from_str(r#"
///     [hidden]
///     scheme = "normal"
///     std = 1.0
///     scale = 0.2
/// "#).unwrap();
/// assert_eq!(roles.hidden.name(), "normal");
/// assert_eq!(roles.output.name(), "pytorch_default"); // untouched roles keep their default
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InitRoles {
    /// The embedding table.
    pub embedding: Scheme,
    /// Hidden Linear weights.
    pub hidden: Scheme,
    /// Hidden Linear biases.
    pub hidden_bias: Scheme,
    /// Output Linear weight.
    pub output: Scheme,
    /// Output Linear bias.
    pub output_bias: Scheme,
}

impl Default for InitRoles {
    fn default() -> Self {
        Self {
            embedding: Scheme::Normal {
                std: 1.0,
                scale: 1.0,
            },
            hidden: Scheme::KaimingNormal {
                gain: Gain::Auto,
                mode: FanMode::FanIn,
                scale: 1.0,
            },
            hidden_bias: Scheme::Zeros,
            output: Scheme::PytorchDefault { scale: 0.1 },
            output_bias: Scheme::Zeros,
        }
    }
}

impl InitRoles {
    /// The scheme for a role (see [`Role`]'s example).
    pub fn get(&self, role: Role) -> &Scheme {
        match role {
            Role::Embedding => &self.embedding,
            Role::Hidden => &self.hidden,
            Role::HiddenBias => &self.hidden_bias,
            Role::Output => &self.output,
            Role::OutputBias => &self.output_bias,
        }
    }
}
