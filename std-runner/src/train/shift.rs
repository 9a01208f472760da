//! Random translations of training images, drawn so that the thread count, the shards and
//! the ranks never change which image moves where.

use crate::error::{Error, Result};
use myelin_core::Rng;

/// Random translation of image inputs: every sample of every step is moved by
/// `(dx, dy)`, each uniform in `-max..=max`, the uncovered border filled with 0. The offsets
/// are drawn from the seed, the epoch and the sample's index in the dataset, so they do not
/// depend on the thread count, the shards or the ranks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageShift {
    /// Image width in pixels (row-major inputs of `width * height` values).
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Largest shift in each direction.
    pub max: usize,
}

impl ImageShift {
    /// The offsets of sample `sample` in epoch `epoch`.
    pub fn offsets(&self, seed: u64, epoch: u64, sample: usize) -> (isize, isize) {
        let mut rng = Rng::stream(seed ^ SHIFT_STREAM, (epoch << 40) ^ sample as u64);
        let span = 2 * self.max as u32 + 1;
        let dx = rng.below(span) as isize - self.max as isize;
        let dy = rng.below(span) as isize - self.max as isize;
        (dx, dy)
    }

    /// Checks the images have `inputs` pixels.
    pub fn check(&self, inputs: usize) -> Result<()> {
        if self.width * self.height == inputs {
            return Ok(());
        }
        Err(Error::Shape {
            op: "shifting images",
            expected: format!("{} inputs ({} x {} pixels)", self.width * self.height, self.width, self.height),
            got: format!("{inputs} inputs"),
        })
    }

    /// `out` = `image` moved right by `dx` and down by `dy` (zeros where nothing moved in).
    pub fn apply(&self, image: &[f32], offsets: (isize, isize), out: &mut [f32]) {
        crate::data::shift_image(self.width, self.height, image, offsets, out);
    }
}

/// The stream family of [`ImageShift`] offsets (apart from the dropout streams).
const SHIFT_STREAM: u64 = 0x5348_4946_5400_0000;

#[cfg(test)]
mod tests {
    use super::ImageShift;

    #[test]
    fn a_shift_moves_pixels_and_fills_the_border_with_zero() {
        let shift = ImageShift { width: 3, height: 2, max: 1 };
        let image = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [9.0; 6];
        shift.apply(&image, (1, 0), &mut out);
        assert_eq!(out, [0.0, 1.0, 2.0, 0.0, 4.0, 5.0]);
        shift.apply(&image, (-1, 1), &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 2.0, 3.0, 0.0]);
        shift.apply(&image, (0, 0), &mut out);
        assert_eq!(out, image);
    }

    #[test]
    fn offsets_cover_the_range_and_depend_only_on_seed_epoch_and_sample() {
        let shift = ImageShift { width: 28, height: 28, max: 2 };
        let mut seen = std::collections::BTreeSet::new();
        for sample in 0..500 {
            let (dx, dy) = shift.offsets(7, 3, sample);
            assert!((-2..=2).contains(&dx) && (-2..=2).contains(&dy));
            assert_eq!((dx, dy), shift.offsets(7, 3, sample));
            seen.insert((dx, dy));
        }
        assert_eq!(seen.len(), 25, "every offset of the 5 x 5 square occurs");
        let differ = (0..100).filter(|&i| shift.offsets(7, 3, i) != shift.offsets(7, 4, i)).count();
        assert!(differ > 50, "a new epoch draws new offsets ({differ} of 100 changed)");
    }
}
