//! Helpers of the adversarial tests: a value whose drop panics, and a
//! runner that isolates a test that might abort the process.

/// Panics when dropped.
pub struct PanicOnDrop;
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("PanicOnDrop");
    }
}

/// Runs `body` in a child process (this test binary, filtered to `name`)
/// and returns how the child ended: Ok(()) if it exited 0, Err(text)
/// describing a signal or non-zero exit otherwise.
pub fn in_child(name: &str, body: impl FnOnce()) -> Result<(), String> {
    if std::env::var("ADV_CHILD").as_deref() == Ok(name) {
        body();
        return Ok(());
    }
    // `--include-ignored`: the child of an `#[ignore]`d test, run with
    // `--ignored`, must run it too, not pass having run nothing.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .arg("--include-ignored")
        .env("ADV_CHILD", name)
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && !stdout.contains("1 passed") {
        return Err(format!("the child ran no test:\n{stdout}"));
    }
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let tail: String = err
        .lines()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    match (out.status.code(), out.status.signal()) {
        (Some(0), _) => Ok(()),
        (_, Some(sig)) => Err(format!(
            "child killed by signal {sig}; stderr tail:\n{tail}"
        )),
        (code, _) => Err(format!("child exited {code:?}; stderr tail:\n{tail}")),
    }
}
