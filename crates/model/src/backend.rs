//! Which Burn backends are compiled in, and opening a device on one of them at run time.

use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// A Burn backend this workspace knows how to build with (each is a Cargo feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Burn's pure-Rust CPU backend (the default feature).
    Flex,
    /// The ndarray CPU backend.
    Ndarray,
    /// wgpu: Vulkan, Metal, DX12 (or Mesa's software Vulkan without a GPU).
    Wgpu,
    /// libtorch through `tch`.
    Tch,
}

/// The backend cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackendError {
    /// Not a backend name.
    #[error("unknown backend '{0}'; expected one of: flex, ndarray, wgpu, tch")]
    Unknown(String),
    /// Known, but this binary was built without it.
    #[error("backend '{0}' is not compiled in; rebuild with --features {0}")]
    NotCompiled(&'static str),
    /// Compiled in, but no device could be opened.
    #[error("backend '{name}': no device could be opened: {reason}")]
    Unavailable {
        /// The backend.
        name: &'static str,
        /// What went wrong.
        reason: String,
    },
}

impl BackendKind {
    /// Every backend, compiled in or not.
    pub const ALL: [BackendKind; 4] = [
        BackendKind::Flex,
        BackendKind::Ndarray,
        BackendKind::Wgpu,
        BackendKind::Tch,
    ];

    /// The name used by `--backend` and the Cargo feature.
    pub fn name(&self) -> &'static str {
        match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Tch => "tch",
        }
    }

    /// Parses a backend name.
    pub fn parse(name: &str) -> Result<Self, BackendError> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| BackendError::Unknown(name.to_owned()))
    }

    /// Whether this binary was built with the backend's feature.
    pub fn compiled_in(&self) -> bool {
        match self {
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Tch => cfg!(feature = "tch"),
        }
    }

    /// The backends compiled into this binary, in [`BackendKind::ALL`] order.
    pub fn compiled() -> Vec<BackendKind> {
        Self::ALL.into_iter().filter(|b| b.compiled_in()).collect()
    }

    /// The device (without autodiff) of this backend.
    #[allow(deprecated, unreachable_code)] // ndarray and tch devices are deprecated in Burn 0.22
    pub fn device(&self) -> Result<Device, BackendError> {
        match self {
            #[cfg(feature = "flex")]
            BackendKind::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            BackendKind::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            BackendKind::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(feature = "tch")]
            BackendKind::Tch => Ok(Device::libtorch()),
            #[allow(unreachable_patterns)]
            other => Err(BackendError::NotCompiled(other.name())),
        }
    }

    /// Opens the device and runs one tiny computation on it, catching a panic from a backend
    /// that finds no adapter or library.
    pub fn open(&self) -> Result<Device, BackendError> {
        let device = self.device()?;
        let probe = device.clone();
        let result = std::panic::catch_unwind(move || {
            let t = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &probe);
            t.sum().into_scalar::<f32>()
        });
        match result {
            Ok(6.0) => Ok(device),
            Ok(v) => Err(BackendError::Unavailable {
                name: self.name(),
                reason: format!("1 + 2 + 3 gave {v}"),
            }),
            Err(panic) => Err(BackendError::Unavailable {
                name: self.name(),
                reason: panic_message(&panic),
            }),
        }
    }
}

/// The text of a caught panic.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}
/// Whether `device` is one of Burn's pure-Rust CPU backends: tensors live in host memory, and
/// their `tanh` is a scalar libm call (`tanhf`, an `expm1f` inside) that the autodiff backward
/// evaluates a second time.
pub(crate) fn host_memory(device: &Device) -> bool {
    let plain = device.clone().without_autodiff();
    [crate::BackendKind::Flex, crate::BackendKind::Ndarray]
        .iter()
        .any(|b| b.device().is_ok_and(|d| d == plain))
}
