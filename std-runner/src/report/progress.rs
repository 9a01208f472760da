//! The terminal side of a run: a progress bar per epoch and the epoch's lines (losses,
//! accuracy, gradient health, warnings about dead or saturated layers).

use crate::train::checkpoint::EpochMetrics;
use crate::train::spec::TrainSpec;

/// A progress bar over an epoch's `steps` (hidden when `show` is false).
pub fn epoch_bar(show: bool, steps: u64, restart: usize, spec: &TrainSpec, epoch: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(steps);
    let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:30.cyan/blue}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    let r = if spec.restarts > 1 { format!("seed {}/{} ", restart + 1, spec.restarts) } else { String::new() };
    bar.set_prefix(format!("{r}epoch {epoch:>3}/{}", spec.epochs));
    bar
}

/// Prints the epoch line, its health line and any warnings.
pub fn print_epoch(figures: &EpochMetrics, classify: bool) {
    let mut line = format!("epoch {:>3}  train loss {:.4}", figures.epoch, figures.train_loss);
    if let Some(v) = figures.val_loss {
        line += &format!("  val loss {v:.4}");
    }
    if let Some(a) = figures.val_accuracy {
        line += &format!("  val acc {:.2}%", 100.0 * a);
    }
    if let Some(r) = figures.val_rmse {
        line += &format!("  val rmse {r:.3}");
    }
    if let Some(t) = figures.test_metric {
        line += &if classify { format!("  test acc {:.2}%", 100.0 * t) } else { format!("  test rmse {t:.3}") };
    }
    if let Some(lr) = figures.lr {
        line += &format!("  lr {lr:.2e}");
    }
    line += &format!("  ({:.2}s)", figures.seconds);
    println!("{line}");
    let mut health = String::from("        health: |g|");
    for (i, g) in figures.layer_grad_norms.iter().enumerate() {
        health += &format!(" L{}={g:.2e}", i + 1);
    }
    let mut warn = Vec::new();
    for (i, ((g, d), s)) in
        figures.layer_grad_norms.iter().zip(&figures.dead_fraction).zip(&figures.saturated_fraction).enumerate()
    {
        if *d > 0.0 {
            health += &format!(" dead(L{})={:.0}%", i + 1, 100.0 * d);
        }
        if *s > 0.0 {
            health += &format!(" saturated(L{})={:.0}%", i + 1, 100.0 * s);
        }
        if *g < 1e-8 {
            warn.push(format!("layer {} has a vanishing gradient (|g| = {g:.1e}): it has stopped learning", i + 1));
        }
        if *d >= 0.5 {
            warn.push(format!(
                "layer {}: {:.0}% of ReLU units are dead; lower --lr or use leaky-relu",
                i + 1,
                100.0 * d
            ));
        }
        if *s >= 0.5 {
            warn.push(format!(
                "layer {}: {:.0}% of units saturated; lower --lr or standardize inputs",
                i + 1,
                100.0 * s
            ));
        }
    }
    println!("{health}");
    for w in warn {
        println!("        warning: {w}");
    }
}
