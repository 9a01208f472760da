//! Writes the shipped digits' fixed test set as raw bytes for firmware: per sample 64 pixel
//! values (0..16) then the label, 65 bytes each.
//!
//!     cargo run --release -p myelin --example digits_test_set -- OUT.bin

fn main() -> anyhow::Result<()> {
    let out = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: digits_test_set OUT.bin"))?;
    let (_, test) = myelin::data::digits::train_test()?;
    let mut bytes = Vec::with_capacity(test.len() * 65);
    for i in 0..test.len() {
        bytes.extend(test.row(i).iter().map(|&v| v as u8));
        bytes.push(test.label(i).unwrap_or(0) as u8);
    }
    myelin::io::modelfile::write_atomic(std::path::Path::new(&out), &bytes)?;
    println!("wrote {} samples to {out}", test.len());
    Ok(())
}
