//! `WSGIDaemonProcess name option=value ...`: the group it defines
//! ([`DaemonGroup`], `group.rs`), its options (`options.rs`), and the
//! directive's parser, which checks the group against the machine.

mod group;
mod options;

pub use group::DaemonGroup;
pub(crate) use group::Ident;

use crate::config::directives::{Applied, Call, ConfigContext, Target};
use crate::config::error::ConfigError;

/// `WSGIDaemonProcess name [option=value ...]`: the group, checked against
/// the machine, under a name no other group of the server has.
pub(super) fn directive(c: &Call<'_>, target: &mut Target<'_>) -> Applied {
    let group = options::parse(c.words)?;
    check_environment(c.name, &group, c.ctx)?;
    let server = target.server(c.name)?;
    if !c.ctx.claim_daemon_name(&group.name) {
        return Err(ConfigError::DuplicateDaemonName {
            directive: c.name,
            group: group.name,
        });
    }
    server.daemons.push(group);
    Ok(())
}

/// What a WSGIDaemonProcess needs of the machine, checked at configtest as
/// mod_wsgi does: chroot= needs root, script-user/script-group must exist.
fn check_environment(
    name: &'static str,
    group: &DaemonGroup,
    ctx: &dyn ConfigContext,
) -> Result<(), ConfigError> {
    if let Some(dir) = &group.chroot
        && !ctx.running_as_root()
    {
        return Err(ConfigError::ChrootNeedsRoot {
            directive: name,
            group: group.name.clone(),
            dir: dir.clone(),
        });
    }
    if let Some(u) = &group.script_user
        && !ctx.user_exists(u)
    {
        return Err(ConfigError::NoSuchScriptUser {
            directive: name,
            group: group.name.clone(),
            user: u.clone(),
        });
    }
    if let Some(g) = &group.script_group
        && !ctx.group_exists(g)
    {
        return Err(ConfigError::NoSuchScriptGroup {
            directive: name,
            group: group.name.clone(),
            script_group: g.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::directives::Target;
    use crate::config::settings::DirConfig;
    use crate::config::testing::{TestContext, apply, server};

    #[test]
    fn daemon_process_groups() {
        let s = server(&[
            "WSGIDaemonProcess web processes=2 threads=4",
            "WSGIImportScript /srv/a.wsgi process-group=web application-group=%{GLOBAL}",
        ])
        .unwrap();
        assert_eq!(s.daemons.len(), 1);
        assert_eq!(s.daemons[0].processes, 2);
        assert_eq!(s.import_scripts[0].process_group, "web");
        let e = server(&["WSGIDaemonProcess web", "WSGIDaemonProcess web"]).unwrap_err();
        assert!(e.contains("already used"), "{e}");
        let e = server(&["WSGIDaemonProcess web user=root"]).unwrap_err();
        assert!(e.contains("user=root is not allowed"), "{e}");
        // The test context is not root, knows user "web" and group #33.
        let e = server(&["WSGIDaemonProcess j chroot=/srv/jail"]).unwrap_err();
        assert!(
            e.contains("chroot=/srv/jail needs Apache to be started as root"),
            "{e}"
        );
        assert!(server(&["WSGIDaemonProcess s script-user=web"]).is_ok());
        assert!(server(&["WSGIDaemonProcess s script-group=#33"]).is_ok());
        let e = server(&["WSGIDaemonProcess s script-user=nosuch"]).unwrap_err();
        assert!(e.contains("script-user 'nosuch' does not exist"), "{e}");
        let e = server(&["WSGIDaemonProcess s script-group=#34"]).unwrap_err();
        assert!(e.contains("script-group '#34' does not exist"), "{e}");
        let mut d = DirConfig::default();
        let e = apply(
            &mut Target::Dir(&mut d),
            "WSGIDaemonProcess x",
            &TestContext::default(),
        )
        .unwrap_err();
        assert!(e.contains("not allowed inside a directory"), "{e}");
    }
}
