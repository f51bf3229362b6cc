//! Release builds embed `web/dist` (see src/web.rs): re-run, and so re-embed,
//! when it changes. Debug builds read the files from disk at run time and need
//! no rebuild, so they do not watch it (a missing folder would otherwise make
//! every build stale).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        let dist = std::path::Path::new("../../web/dist");
        if dist.exists() {
            println!("cargo:rerun-if-changed=../../web/dist");
        } else {
            // Appears when the front end is built; web/ itself is small apart from
            // node_modules, which the build creates at the same time anyway.
            println!("cargo:rerun-if-changed=../../web/package-lock.json");
            println!("cargo:rerun-if-changed=../../web");
        }
    }
}
