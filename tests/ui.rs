//! Compile-time diagnostics of `#[ws_controller]` (`tests/ui/fail`) and programs it must accept
//! (`tests/ui/pass`). Regenerate the expected output with `TRYBUILD=overwrite cargo test --test
//! ui`, then read every `.stderr`: each error must sit on the offending token and say how to
//! fix it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
