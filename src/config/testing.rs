//! What the unit tests of every directive parser share.

use std::cell::RefCell;
use std::sync::Arc;

use super::daemon::Ident;
use super::directives::{ConfigContext, Target, find};
use super::script_alias::UriRegex;
use super::settings::{DirConfig, ServerConfig};
use super::words::split_words;

/// Not root; knows user `web` and group `#33`; a pattern with an
/// unclosed `(` does not compile.
#[derive(Default)]
pub(super) struct TestContext(RefCell<Vec<String>>);

impl ConfigContext for TestContext {
    fn claim_daemon_name(&self, name: &str) -> bool {
        let mut names = self.0.borrow_mut();
        if names.iter().any(|n| n == name) {
            return false;
        }
        names.push(name.to_string());
        true
    }
    fn daemon_defined(&self, name: &str) -> bool {
        self.0.borrow().iter().any(|n| n == name)
    }
    fn running_as_root(&self) -> bool {
        false
    }
    fn user_exists(&self, who: &Ident) -> bool {
        who == &Ident::Name("web".into())
    }
    fn group_exists(&self, who: &Ident) -> bool {
        who == &Ident::Id(33)
    }
    fn compile_regex(&self, pattern: &str) -> Result<Arc<dyn UriRegex>, String> {
        if pattern.contains('(') && !pattern.contains(')') {
            return Err("missing )".into());
        }
        struct Never;
        impl UriRegex for Never {
            fn captures(&self, _: &[u8]) -> Option<Vec<Option<(usize, usize)>>> {
                None
            }
        }
        Ok(Arc::new(Never))
    }
}

/// Applies one configuration line; the error as configtest shows it.
pub(super) fn apply(target: &mut Target<'_>, line: &str, ctx: &TestContext) -> Result<(), String> {
    let words = split_words(line);
    find(&words[0])
        .and_then(|d| d.apply(target, &words[1..], ctx))
        .map_err(|e| e.to_string())
}

/// A server record read from `lines`.
pub(super) fn server(lines: &[&str]) -> Result<ServerConfig, String> {
    read(lines, |r| Target::Server(r))
}

/// A directory record read from `lines`.
pub(super) fn dir(lines: &[&str]) -> Result<DirConfig, String> {
    read(lines, |r| Target::Dir(r))
}

fn read<T: Default>(lines: &[&str], target: fn(&mut T) -> Target<'_>) -> Result<T, String> {
    let mut record = T::default();
    let ctx = TestContext::default();
    for line in lines {
        apply(&mut target(&mut record), line, &ctx)?;
    }
    Ok(record)
}
