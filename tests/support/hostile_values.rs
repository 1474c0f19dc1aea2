//! The hostile values of the hostile-value matrix, shared by its offline half (`tests/cli/hostile.rs`) and
//! its testbed half (`tests/it/hostile.rs`, included there by path): control characters, shell syntax,
//! option look-alikes, ssh `%` tokens, quoting and CSV breakers, bidi and non-ASCII text, path tricks.

pub const VALUES: &[&str] = &[
    "a\u{0}b",
    "a\nb",
    "a\rb",
    "tab\there",
    "\u{1b}[31mred",
    "$(touch /tmp/clusterctl-pwned-canary)",
    "`id`",
    "a;b && c | d > e",
    "-rf",
    "--privileged",
    "%h %n %%",
    "'\"",
    "\u{202e}evil",
    "\u{7f}",
    " lead",
    "a,b=c",
    "x\"y,z",
    "back\\slash",
    "unicode: 日本語",
    "${PATH} * ? ~",
    "/abs/pa th,ro",
    "..",
];
