//! Unit tests of `analyze`: every import form, computed imports, and what the normalised
//! digest keeps and drops.

use super::*;

fn imports(text: &str) -> Vec<String> {
    analyze(text)
        .imports
        .iter()
        .map(|i| {
            format!(
                "{}{} [{}] @{}",
                ".".repeat(i.level as usize),
                i.module.join("."),
                i.names.join(","),
                i.line
            )
        })
        .collect()
}

fn key(text: &str) -> Digest {
    analyze(text).normalized.expect("parses")
}

#[test]
fn every_import_form_is_found_wherever_it_is() {
    let text = "\
import os, helper
import common.features as f
from . import sibling
from .pkg import a, b
from ..up import *
from common import util

def f():
    import inner
    try:
        from lazy.mod import thing
    except ImportError:
        pass
";
    assert_eq!(
        imports(text),
        [
            "os [] @1",
            "helper [] @1",
            "common.features [] @2",
            ". [sibling] @3",
            ".pkg [a,b] @4",
            "..up [] @5",
            "common [util] @6",
            "inner [] @9",
            "lazy.mod [thing] @11",
        ]
    );
}

#[test]
fn a_literal_import_call_is_an_import_and_a_computed_one_is_dynamic() {
    let text = "\
import importlib
m = importlib.import_module('plugins.fast')
n = __import__(name)
exec(open('x.py').read())
";
    let a = analyze(text);
    assert_eq!(imports(text), ["importlib [] @1", "plugins.fast [] @2"]);
    let dynamic: Vec<String> =
        a.dynamic.iter().map(|d| format!("{}:{} {}", d.line, d.column, d.call)).collect();
    assert_eq!(dynamic, ["3:5 __import__", "4:1 exec"]);
}

#[test]
fn a_literal_that_is_not_a_module_name_is_not_followed() {
    let text = "import importlib\n\
                importlib.import_module('/etc/passwd')\n\
                importlib.import_module('../../secrets')\n\
                __import__('a..b')\n\
                importlib.import_module('..pkg.mod')\n";
    assert_eq!(imports(text), ["importlib [] @1", "..pkg.mod [] @5"]);
    let calls: Vec<u32> = analyze(text).dynamic.iter().map(|d| d.line).collect();
    assert_eq!(calls, [2, 3, 4]);
}

#[test]
fn comments_blank_lines_and_spacing_do_not_change_the_digest() {
    let base = "def f(a, b):\n    return a + b\n\nprint(f(1, 2))\n";
    let cosmetic = "# a header\n\ndef f(a,b):   # adds\n\n    return a+b    \n\n\n\nprint( f(1,\n  2) )  # done\n";
    assert_eq!(key(base), key(cosmetic));
}

#[test]
fn every_semantic_edit_changes_the_digest() {
    let base = "def f(a, b):\n    '''Adds.'''\n    return a + b\nprint(f(1, 2))\n";
    for edited in [
        "def f(a, b):\n    '''Adds!'''\n    return a + b\nprint(f(1, 2))\n",
        "def f(a, b):\n    '''Adds.'''\n    return a - b\nprint(f(1, 2))\n",
        "def f(a, b):\n    '''Adds.'''\n    return a + b\n    print(f(1, 2))\n",
        "def f(a, b):\n    '''Adds.'''\n    return a + b\nprint(f(1, 3))\n",
        "def f(a, b):\n    '''Adds.'''\n    return a + b\nprint(f(1, 2), '# not a comment')\n",
    ] {
        assert_ne!(key(base), key(edited), "{edited}");
    }
}

#[test]
fn a_file_that_does_not_parse_has_no_normalized_digest() {
    let a = analyze("def f(:\n    import helper\n");
    assert_eq!(a.normalized, None);
}

#[test]
fn line_and_column_count_characters() {
    let text = "s = 'é'; exec(s)\n";
    let d = &analyze(text).dynamic[0];
    assert_eq!((d.line, d.column), (1, 10));
}
