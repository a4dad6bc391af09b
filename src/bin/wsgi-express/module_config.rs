//! `module-config`, `module-location` and `install-module`: for a system
//! Apache configured by hand, the lines that load this module (as
//! mod_wsgi-express prints them: `LoadModule` and `WSGIPythonHome`), where
//! it is, and copying it into Apache's modules directory.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use crate::cli::{InstallOptions, ModuleOptions};
use crate::{app, locate};

/// The name the module is installed under (as README's instructions use).
const INSTALLED_NAME: &str = "mod_wsgi_rs.so";

/// The lines that load `module`: `WSGIPythonHome` names the active virtual
/// environment, else the prefix of the Python the module was built for.
pub(super) fn lines(module: &Path) -> Result<String> {
    let home = match app::python_home(None)? {
        Some(venv) => venv,
        None => app::built_python_prefix()
            .context("cannot find the prefix of the Python this module was built for")?,
    };
    Ok(format!(
        "LoadModule wsgi_module \"{}\"\nWSGIPythonHome \"{}\"\n",
        module.display(),
        home.display()
    ))
}

pub(super) fn module_config(o: &ModuleOptions) -> Result<String> {
    lines(&locate::find_module(o.module.as_deref())?)
}

pub(super) fn module_location(o: &ModuleOptions) -> Result<String> {
    Ok(format!(
        "{}\n",
        locate::find_module(o.module.as_deref())?.display()
    ))
}

/// Copies the module into the modules directory (written aside and renamed
/// into place, so a running Apache that has it mapped is not disturbed),
/// then returns the lines that load the copy.
pub(super) fn install_module(o: &InstallOptions) -> Result<String> {
    let module = locate::find_module(o.module.module.as_deref())?;
    let dir = match &o.modules_directory {
        Some(d) => d.clone(),
        None => locate::modules_dir(None)?,
    };
    if !dir.is_dir() {
        bail!("the modules directory {} does not exist", dir.display());
    }
    let target: PathBuf = dir.join(INSTALLED_NAME);
    let aside = dir.join(format!(".{INSTALLED_NAME}.{}", std::process::id()));
    fs::copy(&module, &aside)
        .with_context(|| format!("cannot copy {} to {}", module.display(), aside.display()))?;
    fs::set_permissions(&aside, fs::Permissions::from_mode(0o644))
        .and_then(|()| fs::rename(&aside, &target))
        .inspect_err(|_| {
            let _ = fs::remove_file(&aside);
        })
        .with_context(|| format!("cannot install {}", target.display()))?;
    lines(&target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_load_the_module_and_name_a_python_home() {
        let l = lines(Path::new("/m/mod_wsgi_rs.so")).unwrap();
        let mut it = l.lines();
        assert_eq!(
            it.next(),
            Some("LoadModule wsgi_module \"/m/mod_wsgi_rs.so\"")
        );
        assert!(it.next().unwrap().starts_with("WSGIPythonHome \"/"), "{l}");
    }
}
