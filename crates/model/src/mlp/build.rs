//! Building an [`Mlp`] from its config: every parameter from its initializer (keyed by its path)
//! or from saved tensors, with errors that name the parameter.

use super::{Block, Mlp};
use crate::config::{ModelConfig, Norm};
use crate::host::NamedTensor;
use crate::norm::{NormLayer, NormParts};
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use makemore_init::{Activation, Fans, InitError, InitRoles, Role};

/// Where a layer's initial values come from: an initializer, or saved tensors.
pub enum Source<'a> {
    /// Fresh values from the role schemes and a seed.
    Init {
        /// One scheme per role.
        roles: &'a InitRoles,
        /// The seed.
        seed: u64,
    },
    /// Saved values, looked up by path.
    Saved(&'a std::collections::HashMap<String, NamedTensor>),
}

/// Building a model failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// An initializer cannot produce values for a tensor.
    #[error("init.{role}: {source}")]
    Init {
        /// The role.
        role: &'static str,
        /// Why.
        source: InitError,
    },
    /// A saved tensor is missing or has the wrong shape.
    #[error("saved model: {0}")]
    Saved(String),
    /// The config does not fit the vocabulary.
    #[error("{field}: {message}")]
    Config {
        /// The config key.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Embedding => "embedding",
        Role::Hidden => "hidden",
        Role::HiddenBias => "hidden_bias",
        Role::Output => "output",
        Role::OutputBias => "output_bias",
    }
}

struct Builder<'a> {
    source: Source<'a>,
    device: &'a Device,
}

impl Builder<'_> {
    fn values(
        &self,
        path: &str,
        shape: &[usize],
        role: Role,
        fans: Fans,
        activation: Activation,
    ) -> Result<Vec<f32>, BuildError> {
        let n = shape.iter().product();
        match &self.source {
            Source::Init { roles, seed } => {
                let resolved = roles
                    .get(role)
                    .resolve(fans, activation)
                    .map_err(|source| BuildError::Init {
                        role: role_name(role),
                        source,
                    })?;
                Ok(resolved.sample(n, *seed, path))
            }
            Source::Saved(map) => self.saved(map, path, shape),
        }
    }

    fn saved(
        &self,
        map: &std::collections::HashMap<String, NamedTensor>,
        path: &str,
        shape: &[usize],
    ) -> Result<Vec<f32>, BuildError> {
        let t = map
            .get(path)
            .ok_or_else(|| BuildError::Saved(format!("tensor {path} is missing")))?;
        if t.shape != shape || t.data.len() != shape.iter().product::<usize>() {
            return Err(BuildError::Saved(format!(
                "tensor {path} has shape {:?}, the config needs {shape:?}",
                t.shape
            )));
        }
        Ok(t.data.clone())
    }

    fn param<const D: usize>(&self, values: Vec<f32>, shape: [usize; D]) -> Param<Tensor<D>> {
        Param::from_tensor(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn linear(
        &self,
        path: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
        weight_role: Role,
        bias_role: Role,
        activation: Activation,
    ) -> Result<Linear, BuildError> {
        let fans = Fans {
            fan_in: d_in,
            fan_out: d_out,
        };
        let w = self.values(
            &format!("{path}.weight"),
            &[d_in, d_out],
            weight_role,
            fans,
            activation,
        )?;
        let bias = if bias {
            let b = self.values(
                &format!("{path}.bias"),
                &[d_out],
                bias_role,
                fans,
                activation,
            )?;
            Some(self.param(b, [d_out]))
        } else {
            None
        };
        Ok(Linear {
            weight: self.param(w, [d_in, d_out]),
            bias,
        })
    }

    fn norm(&self, path: &str, norm: &Norm, width: usize) -> Result<Option<NormLayer>, BuildError> {
        let Some((_, affine, gamma)) = norm.common() else {
            return Ok(None);
        };
        let get = |name: &str, default: f64| -> Result<Vec<f32>, BuildError> {
            match &self.source {
                Source::Init { .. } => Ok(vec![default as f32; width]),
                Source::Saved(map) => self.saved(map, &format!("{path}.{name}"), &[width]),
            }
        };
        let running = matches!(norm, Norm::BatchNorm(c) if c.track_running_stats);
        let parts = NormParts {
            affine: if affine {
                Some((get("gamma", gamma)?, get("beta", 0.0)?))
            } else {
                None
            },
            running: if running {
                Some((get("running_mean", 0.0)?, get("running_var", 1.0)?))
            } else {
                None
            },
        };
        Ok(NormLayer::from_parts(norm, parts, self.device))
    }

    /// A block's residual scale, `[1]`.
    fn scale(&self, path: &str, init: f64) -> Result<Param<Tensor<1>>, BuildError> {
        let v = match &self.source {
            Source::Init { .. } => vec![init as f32],
            Source::Saved(map) => self.saved(map, path, &[1])?,
        };
        Ok(self.param(v, [1]))
    }
}

impl Mlp {
    /// Checks what of `cfg` depends on the vocabulary (its size, `vocab`, is known only once a
    /// corpus is read): a GroupNorm on the logits needs groups that divide it.
    pub fn check_vocab(cfg: &ModelConfig, vocab: usize) -> Result<(), BuildError> {
        if let Norm::GroupNorm(g) = cfg.output_norm {
            if g.groups == 0 || !vocab.is_multiple_of(g.groups) {
                return Err(BuildError::Config {
                    field: "model.output_norm.group_norm.groups",
                    message: format!(
                        "{} groups do not divide the vocabulary's {vocab} logits",
                        g.groups
                    ),
                });
            }
        }
        Ok(())
    }

    /// Builds the model for a vocabulary of `vocab` tokens on `device` (use an autodiff device to
    /// train), taking values from `source`.
    ///
    /// Parameter paths, which also key each tensor's random stream: `embedding`,
    /// `blocks.{i}.linear.{weight,bias}`, `blocks.{i}.norm.{gamma,beta,running_mean,running_var}`,
    /// `blocks.{i}.scale`, `output.{weight,bias}`, `output_norm.{...}`.
    pub fn build(
        cfg: &ModelConfig,
        vocab: usize,
        source: Source<'_>,
        device: &Device,
    ) -> Result<Self, BuildError> {
        let b = Builder { source, device };
        let emb_fans = Fans {
            fan_in: cfg.n_embd,
            fan_out: vocab,
        };
        let emb = b.values(
            "embedding",
            &[vocab, cfg.n_embd],
            Role::Embedding,
            emb_fans,
            Activation::Identity,
        )?;
        let mut blocks = Vec::with_capacity(cfg.hidden.len());
        Self::check_vocab(cfg, vocab)?;
        let residual: Vec<usize> = if cfg.residual {
            cfg.residual_blocks().collect()
        } else {
            Vec::new()
        };
        let mut fan_in = cfg.n_embd * cfg.block_size;
        for (i, &width) in cfg.hidden.iter().enumerate() {
            let path = format!("blocks.{i}");
            let bias = cfg.bias.has_bias(&cfg.norm);
            let linked = residual.contains(&i);
            let scale = match cfg.residual_scale {
                Some(init) if linked => Some(b.scale(&format!("{path}.scale"), init)?),
                _ => None,
            };
            blocks.push(Block {
                linear: b.linear(
                    &format!("{path}.linear"),
                    fan_in,
                    width,
                    bias,
                    Role::Hidden,
                    Role::HiddenBias,
                    cfg.activation,
                )?,
                norm: b.norm(&format!("{path}.norm"), &cfg.norm, width)?,
                scale,
                residual: linked,
            });
            fan_in = width;
        }
        let output = b.linear(
            "output",
            fan_in,
            vocab,
            cfg.bias.has_bias(&cfg.output_norm),
            Role::Output,
            Role::OutputBias,
            Activation::Identity,
        )?;
        let output_norm = b.norm("output_norm", &cfg.output_norm, vocab)?;
        Ok(Self {
            embedding: b.param(emb, [vocab, cfg.n_embd]),
            blocks,
            output,
            output_norm,
            activation: cfg.activation,
        })
    }
}
