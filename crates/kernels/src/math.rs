//! Host-side arithmetic on plain `f32` slices: the leaf of the model's numeric code. The
//! activations (`activation`) and the CPU kernels (`cpu::kernel`) both use it; it uses
//! nothing of the crate.

/// tanh in f32 by the rational approximation Eigen uses (a 13/6-degree odd/even pair on
/// `[-7.905, 7.905]`, where tanh rounds to +-1 beyond), branch-free so it vectorizes; within
/// 5e-7 of the exact value.
#[inline]
pub fn tanh_f32(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    let x = x.clamp(-CLAMP, CLAMP); // NaN stays NaN, so divergence is still seen
    let x2 = x * x;
    let p = x
        * (A[0] + x2 * (A[1] + x2 * (A[2] + x2 * (A[3] + x2 * (A[4] + x2 * (A[5] + x2 * A[6]))))));
    let q = B[0] + x2 * (B[1] + x2 * (B[2] + x2 * B[3]));
    p / q
}

#[cfg(test)]
mod tests {
    use super::tanh_f32;

    #[test]
    fn tanh_f32_is_accurate_everywhere() {
        let mut worst = 0f64;
        let mut x = -20.0f64;
        while x <= 20.0 {
            let err = (f64::from(tanh_f32(x as f32)) - (x as f32 as f64).tanh()).abs();
            worst = worst.max(err);
            x += 1e-4;
        }
        assert!(worst < 5e-7, "max error {worst}");
        assert_eq!(tanh_f32(0.0), 0.0);
        assert!(tanh_f32(f32::INFINITY) > 0.999_999 && tanh_f32(-1e30) < -0.999_999);
        assert!(
            tanh_f32(f32::NAN).is_nan(),
            "NaN propagates, so divergence is still seen"
        );
    }
}
