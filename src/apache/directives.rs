//! The command table httpd reads our directives with, generated at compile
//! time from `config::directives::DIRECTIVES`. Every directive goes through
//! one RAW_ARGS function that hands the words to its entry's parser; a
//! section (`<WSGIInterpreterOptions>`) also gets the lines httpd read
//! inside it.

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::Arc;

use crate::config::ConfigError;
use crate::config::DirConfig;
use crate::config::daemon::Ident;
use crate::config::directives::{self, ConfigContext, DIRECTIVES, Scope, Syntax, Target};
use crate::config::interpreter_options::NestedLine;
use crate::config::script_alias::UriRegex;
use crate::config::words::split_words;
use crate::ffi;
use crate::os::{credentials, users};

use super::entry::guard;
use super::module::server_config_mut;
use super::pool::{Pool, str_from};
use super::regex;

/// Our directives, then the all-zero record that ends httpd's table.
const N: usize = DIRECTIVES.len() + 1;

pub(crate) struct CommandTable([ffi::command_rec; N]);

// SAFETY: built once at compile time and never written; httpd only reads it.
unsafe impl Sync for CommandTable {}

impl CommandTable {
    pub(crate) const fn as_ptr(&self) -> *const ffi::command_rec {
        self.0.as_ptr()
    }
}

const fn req_override(scope: Scope) -> c_int {
    (match scope {
        Scope::Global | Scope::Server => ffi::RSRC_CONF,
        Scope::Directory => ffi::RSRC_CONF | ffi::ACCESS_CONF,
        Scope::FileInfo => ffi::RSRC_CONF | ffi::ACCESS_CONF | ffi::OR_FILEINFO,
        // As mod_wsgi: OR_AUTHCFG alone (no server/vhost level).
        Scope::AuthConfig => ffi::OR_AUTHCFG,
    }) as c_int
}

/// Room for the longest directive name and its NUL (checked at compile time).
const NAME_SIZE: usize = 32;

/// The table's names as C strings, copied at compile time: httpd keeps
/// pointers to them for as long as the module is loaded.
static NAMES: [[u8; NAME_SIZE]; DIRECTIVES.len()] = c_names();

const fn c_names() -> [[u8; NAME_SIZE]; DIRECTIVES.len()] {
    let mut out = [[0; NAME_SIZE]; DIRECTIVES.len()];
    let mut i = 0;
    while i < DIRECTIVES.len() {
        let name = DIRECTIVES[i].name.as_bytes();
        assert!(
            name.len() < NAME_SIZE,
            "a directive name is longer than NAME_SIZE allows"
        );
        let mut j = 0;
        while j < name.len() {
            assert!(name[j] != 0, "a directive name contains NUL");
            out[i][j] = name[j];
            j += 1;
        }
        i += 1;
    }
    out
}

type RawArgs =
    unsafe extern "C" fn(*mut ffi::cmd_parms, *mut c_void, *const c_char) -> *const c_char;

/// httpd's command table: one RAW_ARGS record per entry of the pure table,
/// in its order, all handled by `handler`.
const fn build(
    names: &'static [[u8; NAME_SIZE]; DIRECTIVES.len()],
    handler: RawArgs,
) -> [ffi::command_rec; N] {
    let mut out = [ffi::command_rec {
        name: ptr::null(),
        func: ffi::cmd_func { raw_args: None },
        cmd_data: ptr::null_mut(),
        req_override: 0,
        args_how: 0,
        errmsg: ptr::null(),
    }; N];
    let mut i = 0;
    while i < DIRECTIVES.len() {
        out[i] = ffi::command_rec {
            name: names[i].as_ptr() as *const c_char,
            func: ffi::cmd_func {
                raw_args: Some(handler),
            },
            cmd_data: ptr::null_mut(),
            req_override: req_override(DIRECTIVES[i].scope),
            args_how: ffi::cmd_how_RAW_ARGS,
            // httpd shows errmsg only for argument-count errors, which RAW_ARGS never
            // produces; our own messages carry the usage instead.
            errmsg: c"see the mod_wsgi documentation".as_ptr(),
        };
        i += 1;
    }
    out
}

pub(crate) static COMMANDS: CommandTable = CommandTable(build(&NAMES, on_directive));

struct ApacheRegex(Pool);

/// WSGIDaemonProcess names seen while reading this configuration: userdata
/// of the configuration pool, so it starts empty on every (re)read.
fn daemon_names(pool: Pool) -> &'static RefCell<Vec<String>> {
    let p = pool.userdata_or_insert(c"mod_wsgi_rs.daemon_names", || RefCell::new(Vec::new()));
    // SAFETY: allocated in pconf, which outlives the configuration reading;
    // httpd reads configuration on one thread.
    unsafe { &*p }
}

impl ConfigContext for ApacheRegex {
    fn compile_regex(&self, pattern: &str) -> Result<Arc<dyn UriRegex>, String> {
        regex::compile(self.0, pattern)
    }
    fn claim_daemon_name(&self, name: &str) -> bool {
        let mut names = daemon_names(self.0).borrow_mut();
        if names.iter().any(|n| n == name) {
            return false;
        }
        names.push(name.to_string());
        true
    }
    fn daemon_defined(&self, name: &str) -> bool {
        daemon_names(self.0).borrow().iter().any(|n| n == name)
    }
    fn running_as_root(&self) -> bool {
        credentials::is_root()
    }
    fn user_exists(&self, who: &Ident) -> bool {
        match who {
            Ident::Name(n) => users::user_by_name(n).is_some(),
            Ident::Id(id) => users::user_by_uid(*id).is_some(),
        }
    }
    fn group_exists(&self, who: &Ident) -> bool {
        match who {
            Ident::Name(n) => users::group_by_name(n).is_some(),
            Ident::Id(id) => users::group_name(*id).is_some(),
        }
    }
}

unsafe extern "C" fn on_directive(
    cmd: *mut ffi::cmd_parms,
    mconfig: *mut c_void,
    args: *const c_char,
) -> *const c_char {
    guard(
        "directive",
        c"internal error while reading a WSGI directive".as_ptr(),
        || {
            // SAFETY: httpd passes a live cmd_parms for the directive being
            // read, ours for the duration of this call.
            let cmd = unsafe { &mut *cmd };
            // SAFETY: cmd->cmd is our own command_rec, whose name is a static C string.
            let name = unsafe { str_from((*cmd.cmd).name) }.into_owned();
            // SAFETY: cmd->pool is the live configuration pool.
            let pool = unsafe { Pool::from_raw(cmd.pool) };
            match apply(cmd, mconfig, &name, args, pool) {
                Ok(()) => ptr::null(),
                Err(msg) => pool.strdup(&msg),
            }
        },
    )
}

fn apply(
    cmd: &mut ffi::cmd_parms,
    mconfig: *mut c_void,
    name: &str,
    args: *const c_char,
    pool: Pool,
) -> Result<(), String> {
    let spec = directives::find(name).map_err(|e| e.to_string())?;
    if spec.scope == Scope::Global {
        // SAFETY: cmd is live; httpd's check only reads it.
        let err = unsafe { ffi::ap_check_cmd_context(cmd, ffi::GLOBAL_ONLY as u32) };
        if !err.is_null() {
            // SAFETY: httpd returns a pool string.
            return Err(unsafe { CStr::from_ptr(err) }
                .to_string_lossy()
                .into_owned());
        }
    }
    // SAFETY: RAW_ARGS hands us the rest of the line as a C string.
    let args = unsafe { str_from(args) };
    let in_directory = !cmd.path.is_null();
    // <AuthnProviderAlias> reads its section without cmd->path: AuthConfig
    // directives always write the per-directory record httpd hands us.
    let mut target = if spec.scope == Scope::AuthConfig
        || in_directory && matches!(spec.scope, Scope::Directory | Scope::FileInfo)
    {
        // SAFETY: inside a directory section mconfig is our DirConfig for it.
        Target::Dir(
            unsafe { (mconfig as *mut DirConfig).as_mut() }.ok_or("no directory configuration")?,
        )
    } else {
        // SAFETY: cmd->server is the server being configured; reading config is single-threaded.
        Target::Server(unsafe { server_config_mut(cmd.server) }.ok_or("no server configuration")?)
    };
    let ctx = ApacheRegex(pool);
    match spec.syntax {
        Syntax::Line(_) => spec
            .apply(&mut target, &split_words(&args), &ctx)
            .map_err(|e| e.to_string()),
        Syntax::Section(_) => {
            let body = SectionBody::of(cmd);
            spec.apply_section(&mut target, &args, &body.lines, &ctx)
                .map_err(|e| {
                    if let ConfigError::Nested { index, .. } = &e {
                        body.point_error_at(cmd, *index);
                    }
                    e.to_string()
                })
        }
    }
}

/// The lines httpd read inside the section being applied: its children in
/// the configuration tree, without the ones it already ran as it read them
/// (`EXEC_ON_READ`: `Include`, `Define`, `<IfModule>`..., whose own lines
/// follow them in the tree when they apply).
struct SectionBody {
    lines: Vec<NestedLine>,
    /// The tree node of each line, for pointing httpd's message at it.
    nodes: Vec<*const ffi::ap_directive_t>,
}

impl SectionBody {
    fn of(cmd: &ffi::cmd_parms) -> SectionBody {
        let mut body = SectionBody {
            lines: Vec::new(),
            nodes: Vec::new(),
        };
        if cmd.directive.is_null() {
            return body;
        }
        // SAFETY: cmd->directive is the live tree node of the section being
        // applied; its children and their strings live in pconf.
        let mut node = unsafe { (*cmd.directive).first_child };
        while !node.is_null() {
            // SAFETY: as above, for each child.
            let (name, args, next) = unsafe { ((*node).directive, (*node).args, (*node).next) };
            if !name.is_null() && !executed_on_read(name) {
                body.lines.push(NestedLine {
                    // SAFETY: the node's strings are C strings in pconf.
                    name: unsafe { str_from(name) }.into_owned(),
                    // SAFETY: as above (or null: no arguments).
                    args: unsafe { str_from(args) }.into_owned(),
                });
                body.nodes.push(node);
            }
            node = next;
        }
        body
    }

    /// Makes httpd's "Syntax error on line N" name the line at `index`.
    fn point_error_at(&self, cmd: &mut ffi::cmd_parms, index: usize) {
        if let Some(&node) = self.nodes.get(index) {
            cmd.err_directive = node;
        }
    }
}

/// Whether httpd ran the directive `name` while reading the configuration.
fn executed_on_read(name: *const c_char) -> bool {
    // SAFETY: ap_top_module heads httpd's list of loaded modules (set while
    // reading the configuration, on this thread); the lookup only reads the
    // modules' command tables, and `name` is a live C string.
    let cmd = unsafe {
        let mut module = ffi::ap_top_module;
        ffi::ap_find_command_in_modules(name, &mut module)
    };
    // SAFETY: a non-null result is a record of a loaded module's command table.
    !cmd.is_null() && unsafe { (*cmd).req_override } & ffi::EXEC_ON_READ != 0
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    unsafe extern "C" fn handler(
        _: *mut ffi::cmd_parms,
        _: *mut c_void,
        _: *const c_char,
    ) -> *const c_char {
        ptr::null()
    }

    /// httpd's table lists exactly the pure table's directives, in order,
    /// each with its scope, and ends with an all-zero record. (COMMANDS is
    /// built by the same function; linking it here would need httpd.)
    #[test]
    fn command_table_is_the_pure_table() {
        let table = build(&NAMES, handler);
        let (end, records) = table.split_last().unwrap();
        assert_eq!(records.len(), DIRECTIVES.len());
        for (c, d) in records.iter().zip(DIRECTIVES) {
            // SAFETY: names point into NAMES, NUL-terminated C strings.
            assert_eq!(unsafe { CStr::from_ptr(c.name) }.to_str(), Ok(d.name));
            assert_eq!(c.req_override, req_override(d.scope));
            assert_eq!(c.args_how, ffi::cmd_how_RAW_ARGS);
            // SAFETY: every record is built with raw_args set.
            assert!(unsafe { c.func.raw_args }.is_some());
        }
        assert!(end.name.is_null());
        // SAFETY: the terminator is built with raw_args None.
        assert!(unsafe { end.func.raw_args }.is_none());
    }
}
