// `sqlx::migrate!` embeds `migrations/` at compile time and tracks the files it saw, but on
// stable Rust a newly added migration would not trigger a rebuild without this.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
