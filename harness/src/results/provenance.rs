//! Where and when: etbench's version and git sha, and the machine as sysinfo describes it.

use chrono::Utc;
use sysinfo::System;

use crate::results::{CiProvenance, Provenance, SystemInfo};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn git_sha() -> Option<String> {
    option_env!("ETBENCH_GIT_SHA").filter(|s| !s.is_empty()).map(str::to_owned)
}

pub fn system_info() -> SystemInfo {
    let sys = System::new().ok().map(|mut sys| {
        sys.refresh_memory();
        sys.refresh_cpu_list(sysinfo::CpuRefreshKind::nothing());
        sys
    });
    let cpus = sys.as_ref().map(|s| s.cpus()).unwrap_or_default();
    SystemInfo {
        hostname: System::host_name().ok(),
        os: System::name().ok(),
        os_version: System::os_version().ok(),
        kernel: System::kernel_version().ok(),
        arch: std::env::consts::ARCH.to_owned(),
        cpu_brand: cpus.first().map(|c| c.brand().trim().to_owned()).filter(|b| !b.is_empty()),
        cpu_logical_cores: cpus.len().max(1),
        cpu_physical_cores: System::physical_core_count().ok(),
        memory_total_bytes: sys.as_ref().map(|s| s.total_memory()).unwrap_or(0),
    }
}

pub fn provenance(command: Vec<String>) -> Provenance {
    Provenance {
        etbench_version: VERSION.to_owned(),
        git_sha: git_sha(),
        created_at: Utc::now(),
        command,
        cwd: std::env::current_dir().ok().map(|d| d.display().to_string()),
        host: system_info(),
        ci: ci_provenance(|name| std::env::var(name).ok()),
    }
}

/// The CI job this process runs in, from the variables GitHub Actions and GitLab CI set; `None` outside CI.
pub fn ci_provenance(var: impl Fn(&str) -> Option<String>) -> Option<CiProvenance> {
    let get = |name: &str| var(name).filter(|v| !v.is_empty());
    if get("GITHUB_ACTIONS").as_deref() == Some("true") {
        let repo_url =
            get("GITHUB_SERVER_URL").zip(get("GITHUB_REPOSITORY")).map(|(server, repo)| format!("{server}/{repo}"));
        let commit = get("GITHUB_SHA");
        let run_id = get("GITHUB_RUN_ID");
        let pull_request = get("GITHUB_EVENT_NAME").is_some_and(|e| e.starts_with("pull_request"));
        let pr_head = if pull_request {
            get("GITHUB_EVENT_PATH").and_then(|p| pull_request_head(std::path::Path::new(&p)))
        } else {
            None
        };
        return Some(CiProvenance {
            repo: get("GITHUB_REPOSITORY"),
            head_branch: get("GITHUB_HEAD_REF").or_else(|| get("GITHUB_REF")),
            head_sha: pr_head.or_else(|| commit.clone()),
            run_attempt: get("GITHUB_RUN_ATTEMPT"),
            job: get("GITHUB_JOB"),
            system: "github".into(),
            run_url: repo_url.clone().zip(run_id.clone()).map(|(r, id)| format!("{r}/actions/runs/{id}")),
            commit_url: repo_url.zip(commit.clone()).map(|(r, c)| format!("{r}/commit/{c}")),
            commit,
            ref_name: get("GITHUB_REF_NAME"),
            run_id,
            runner_name: get("RUNNER_NAME"),
        });
    }
    if get("GITLAB_CI").as_deref() == Some("true") {
        let commit = get("CI_COMMIT_SHA");
        return Some(CiProvenance {
            system: "gitlab".into(),
            commit_url: get("CI_PROJECT_URL").zip(commit.clone()).map(|(r, c)| format!("{r}/-/commit/{c}")),
            commit,
            ref_name: get("CI_COMMIT_REF_NAME"),
            run_id: get("CI_PIPELINE_ID"),
            run_url: get("CI_PIPELINE_URL"),
            runner_name: get("CI_RUNNER_DESCRIPTION"),
            repo: get("CI_PROJECT_PATH"),
            head_branch: get("CI_COMMIT_REF_NAME"),
            head_sha: get("CI_COMMIT_SHA"),
            run_attempt: None,
            job: get("CI_JOB_NAME"),
        });
    }
    None
}

/// `pull_request.head.sha` of a GitHub event payload.
fn pull_request_head(event: &std::path::Path) -> Option<String> {
    let payload: serde_json::Value = serde_json::from_slice(&std::fs::read(event).ok()?).ok()?;
    payload["pull_request"]["head"]["sha"].as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_actions_variables_become_links_to_the_run_and_the_commit() {
        let env = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/model"),
            ("GITHUB_SHA", "0123abc"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_REF_NAME", "main"),
            ("RUNNER_NAME", "pixel-host-1"),
            ("GITHUB_TOKEN", "secret"),
        ];
        let ci = ci_provenance(|n| env.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())).unwrap();
        assert_eq!(ci.run_url.as_deref(), Some("https://github.com/acme/model/actions/runs/42"));
        assert_eq!(ci.commit_url.as_deref(), Some("https://github.com/acme/model/commit/0123abc"));
        assert_eq!(ci.runner_name.as_deref(), Some("pixel-host-1"));
        assert!(!format!("{ci:?}").contains("secret"));
        assert_eq!(ci_provenance(|_| None), None);
    }
}
