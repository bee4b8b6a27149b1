#!/usr/bin/env bash
# Start-up script of a fiddle runner VM (Debian 12), run as root by the guest agent at every boot
# (instance metadata key startup-script, set by infra/terraform/runners.tf). Idempotent: it
# installs only what is missing, reinstalls the service only when its source changed, and
# restarts the runner only when something it depends on changed.
#
# It reads these instance metadata attributes:
#   fiddle-wheel, fiddle-wheel-name   the service as a base64 wheel and its file name, or
#   fiddle-git-url, fiddle-git-ref    an https git repository and a branch, tag or commit
#   fiddle-runner-unit                the systemd unit (infra/systemd/fiddle-runner.service)
#   fiddle-runner-port                port of `fiddle runner` (default 8081)
#   fiddle-runner-hosts               warm sandbox hosts (default 6: 2 x cores + 2 on 2 vCPUs)
#   fiddle-runner-audience            audience of the Google ID tokens the runner accepts
#   fiddle-ops-agent                  "false" to skip installing the Ops Agent (logs, metrics)
# Every value is checked against a strict pattern before use, and none is ever evaluated by a
# shell: they are passed as single, quoted arguments or written as data. Bash ignores `set -e`
# inside a function called as a condition (`if f`, `f || g`): the few called so handle every
# failure themselves, and the install steps are never called so.
set -euo pipefail
shopt -s inherit_errexit
umask 022

# (FIDDLE_METADATA_URL only for tests/test_infra.py, which serves fake metadata on loopback.)
readonly METADATA_URL="${FIDDLE_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1/instance/attributes}"
readonly PREFIX=/opt/fiddle
readonly VENV=/opt/fiddle/venv
readonly STAMP=/opt/fiddle/installed
readonly ENV_FILE=/etc/fiddle/runner.env
readonly UNIT_NAME=fiddle-runner.service
readonly UNIT_PATH=/etc/systemd/system/fiddle-runner.service
# The runner's Skia builds (infra/systemd/fiddle-runner.service gives it FIDDLE_BUILDS_DIR).
readonly BUILDS_DIR=/var/lib/fiddle/builds
readonly PACKAGES=(
  ca-certificates curl git gnupg
  python3 python3-venv
  systemd-container
  fontconfig fonts-dejavu-core libegl1 libgl1
  # The GPU output: Mesa's EGL vendor and its drivers (llvmpipe where the VM has no GPU).
  libegl-mesa0 libgl1-mesa-dri
)
readonly OPS_AGENT_KEYRING=/usr/share/keyrings/google-cloud-ops-agent.gpg
readonly OPS_AGENT_LIST=/etc/apt/sources.list.d/google-cloud-ops-agent.list
readonly OPS_AGENT_REPO="https://packages.cloud.google.com/apt"

WORK=$(mktemp -d)
readonly WORK
trap 'rm -rf -- "$WORK"' EXIT
changed=false

log() { printf 'fiddle-startup: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# fetch_attribute NAME FILE: writes attribute NAME to FILE; returns 1 when it is not set.
fetch_attribute() {
  local name=$1 out=$2 status
  status=$(curl --silent --show-error --retry 10 --retry-connrefused --retry-delay 3 \
    --max-time 60 --header "Metadata-Flavor: Google" --output "$out" --write-out "%{http_code}" \
    "$METADATA_URL/$name") || die "cannot read instance metadata $name"
  case $status in
    200) return 0 ;;
    404) return 1 ;;
    *) die "the metadata server answered $status for $name" ;;
  esac
}

# attribute NAME [DEFAULT]: prints attribute NAME, or DEFAULT when it is not set (an error
# without a default).
attribute() {
  local name=$1
  if fetch_attribute "$name" "$WORK/attribute"; then
    cat -- "$WORK/attribute"
  elif (($# > 1)); then
    printf '%s' "$2"
  else
    die "instance metadata $name is not set"
  fi
}

# check NAME VALUE PATTERN: fails unless VALUE matches the extended regular expression PATTERN.
check() {
  [[ $2 =~ $3 ]] || die "instance metadata $1 has an unexpected value"
}

package_installed() {
  local status
  # shellcheck disable=SC2016  # ${Status} is dpkg-query's format, not a shell expansion.
  status=$(dpkg-query --show --showformat='${Status}' "$1" 2>/dev/null) || return 1
  [[ $status == *"ok installed"* ]]
}

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -- "$@"
}

install_packages() {
  local missing=() package
  for package in "${PACKAGES[@]}"; do
    package_installed "$package" || missing+=("$package")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    apt_install "${missing[@]}"
  fi
}

# The Ops Agent ships the journal (the runner's log) and VM metrics to Cloud Logging and
# Monitoring: that is all the runner's service account may do.
install_ops_agent() {
  local wanted
  wanted=$(attribute fiddle-ops-agent true)
  [[ $wanted == false ]] && return 0
  package_installed google-cloud-ops-agent && return 0
  log "installing the Google Cloud Ops Agent"
  if [[ ! -s $OPS_AGENT_KEYRING ]]; then
    curl --silent --show-error --fail --retry 5 --output "$WORK/apt-key.gpg" \
      "$OPS_AGENT_REPO/doc/apt-key.gpg"
    gpg --batch --yes --dearmor --output "$OPS_AGENT_KEYRING" "$WORK/apt-key.gpg"
  fi
  printf 'deb [signed-by=%s] %s google-cloud-ops-agent-bookworm-all main\n' \
    "$OPS_AGENT_KEYRING" "$OPS_AGENT_REPO" >"$OPS_AGENT_LIST"
  apt-get update -qq
  apt_install google-cloud-ops-agent
}

make_venv() {
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "the runner needs Python 3.11 or newer"
  install -d -m 0755 -- "$PREFIX"
  if [[ ! -x $VENV/bin/python ]]; then
    log "creating $VENV"
    python3 -m venv -- "$VENV"
  fi
}

pip_install() {
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$@"
}

# The release currently installed, as recorded by the last successful install.
installed_release() {
  if [[ -f $STAMP ]]; then cat -- "$STAMP"; fi
}

record_release() {
  printf '%s\n' "$1" >"$STAMP.tmp"
  mv -f -- "$STAMP.tmp" "$STAMP"
  changed=true
}

# Whether the metadata carries a wheel (left in $WORK/wheel.b64).
has_wheel() {
  fetch_attribute fiddle-wheel "$WORK/wheel.b64" && [[ -s $WORK/wheel.b64 ]]
}

# The service from the wheel that has_wheel found.
install_from_wheel() {
  local name digest release
  name=$(attribute fiddle-wheel-name)
  check fiddle-wheel-name "$name" '^fiddle_service-[A-Za-z0-9_.+]+-py3-none-any\.whl$'
  base64 --decode -- "$WORK/wheel.b64" >"$WORK/$name"
  digest=$(sha256sum -- "$WORK/$name")
  digest=${digest%% *}
  release="wheel $name $digest"
  if [[ $(installed_release) == "$release" ]]; then
    log "$name is installed already"
    return 0
  fi
  log "installing $name"
  install -d -m 0755 -- "$PREFIX/dist"
  install -m 0644 -- "$WORK/$name" "$PREFIX/dist/$name"
  # Dependencies first, then the package itself even when its version number did not change.
  pip_install -- "${PREFIX}/dist/${name}[runner]"
  pip_install --force-reinstall --no-deps -- "$PREFIX/dist/$name"
  record_release "$release"
}

# The service from a git repository, installed in editable mode so that it keeps its
# repository-relative data (infra/sandbox/policy.toml, infra/skia-releases.toml).
install_from_git() {
  local url ref commit release checkout
  url=$(attribute fiddle-git-url)
  ref=$(attribute fiddle-git-ref main)
  check fiddle-git-url "$url" '^https://[A-Za-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._~/%+-]*$'
  check fiddle-git-ref "$ref" '^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$'
  [[ $ref != *..* ]] || die "instance metadata fiddle-git-ref has an unexpected value"
  git init --quiet -- "$WORK/source"
  GIT_ALLOW_PROTOCOL=https GIT_TERMINAL_PROMPT=0 \
    git -C "$WORK/source" fetch --quiet --depth 1 -- "$url" "$ref"
  commit=$(git -C "$WORK/source" rev-parse --verify "FETCH_HEAD^{commit}")
  release="git $url $commit"
  if [[ $(installed_release) == "$release" ]]; then
    log "commit $commit is installed already"
    return 0
  fi
  log "installing commit $commit of $url"
  checkout="$PREFIX/src/$commit"
  if [[ ! -d $checkout ]]; then
    git -C "$WORK/source" checkout --quiet --detach FETCH_HEAD
    install -d -m 0755 -- "$PREFIX/src"
    rm -rf -- "$checkout.tmp"
    cp -a -- "$WORK/source" "$checkout.tmp"
    mv -- "$checkout.tmp" "$checkout"
  fi
  pip_install --editable "${checkout}[runner]"
  # Older checkouts are no longer used by the (re)installed editable package.
  find "$PREFIX/src" -mindepth 1 -maxdepth 1 -type d ! -name "$commit" -exec rm -rf -- {} +
  record_release "$release"
}

# The default Skia builds of infra/skia-releases.toml (m87, m138 and the newest m144, from the
# package index), each checked by a smoke render in an nspawn sandbox before it counts; one that
# is installed already is left as it is. A running runner takes new builds up by itself. Not
# fatal: without them (no route to the index, say) the runner serves the builds it has, or its
# own skia-python when it has none, and says so in its log.
install_builds() {
  install -d -m 0755 -- "$BUILDS_DIR"
  if ! "$VENV/bin/fiddle" builds add --defaults --builds-dir "$BUILDS_DIR" --sandbox nspawn; then
    log "the default Skia builds could not all be installed; the runner serves those it has"
  fi
}

# same_file SOURCE DEST: whether DEST exists with the content of SOURCE.
same_file() {
  [[ -f $2 ]] && cmp --silent -- "$1" "$2"
}

# install_file SOURCE DEST MODE: puts a copy of SOURCE at DEST atomically.
install_file() {
  install -m "$3" -- "$1" "$2.tmp"
  mv -f -- "$2.tmp" "$2"
}

write_environment() {
  local port hosts audience
  port=$(attribute fiddle-runner-port 8081)
  hosts=$(attribute fiddle-runner-hosts 6)
  audience=$(attribute fiddle-runner-audience)
  check fiddle-runner-port "$port" '^[1-9][0-9]{0,4}$'
  ((port <= 65535)) || die "instance metadata fiddle-runner-port is out of range"
  check fiddle-runner-hosts "$hosts" '^[1-9][0-9]?$'
  check fiddle-runner-audience "$audience" '^[A-Za-z0-9._~:/?#@%+=&-]{1,512}$'
  {
    printf '# Written by the start-up script from instance metadata; edits are overwritten.\n'
    printf 'FIDDLE_RUNNER_PORT=%s\n' "$port"
    printf 'FIDDLE_RUNNER_HOSTS=%s\n' "$hosts"
    printf 'FIDDLE_RUNNER_AUDIENCE=%s\n' "$audience"
  } >"$WORK/runner.env"
  install -d -m 0755 -- /etc/fiddle
  if ! same_file "$WORK/runner.env" "$ENV_FILE"; then
    install_file "$WORK/runner.env" "$ENV_FILE" 0640
    log "wrote $ENV_FILE"
    changed=true
  fi
}

install_unit() {
  fetch_attribute fiddle-runner-unit "$WORK/unit" || die "instance metadata fiddle-runner-unit is not set"
  grep --quiet --line-regexp --fixed-strings '[Service]' -- "$WORK/unit" ||
    die "instance metadata fiddle-runner-unit is not a service unit"
  if ! same_file "$WORK/unit" "$UNIT_PATH"; then
    install_file "$WORK/unit" "$UNIT_PATH" 0644
    log "installed $UNIT_PATH"
    systemctl daemon-reload
    changed=true
  fi
}

wait_until_healthy() {
  local port
  port=$(sed -n 's/^FIDDLE_RUNNER_PORT=//p' -- "$ENV_FILE")
  if curl --silent --fail --output /dev/null --retry 30 --retry-connrefused --retry-delay 2 \
    --max-time 120 -- "http://127.0.0.1:$port/healthz"; then
    log "runner is healthy on port $port"
  else
    # Not fatal here: the unit keeps restarting it, and autohealing replaces a VM that stays sick.
    log "runner is not healthy yet on port $port"
  fi
}

main() {
  ((EUID == 0)) || die "run me as root"
  install_packages
  install_ops_agent
  make_venv
  # (Called outside conditions, so that `set -e` holds inside them.)
  if has_wheel; then
    install_from_wheel
  elif fetch_attribute fiddle-git-url "$WORK/git-url"; then
    install_from_git
  else
    die "set instance metadata fiddle-wheel (with fiddle-wheel-name) or fiddle-git-url"
  fi
  install_builds
  write_environment
  install_unit
  systemctl enable --quiet "$UNIT_NAME"
  if [[ $changed == true ]]; then
    log "restarting $UNIT_NAME"
    systemctl restart "$UNIT_NAME"
  else
    systemctl start "$UNIT_NAME"
  fi
  wait_until_healthy
}

# Sourced (by tests/test_infra.py), it only defines the functions.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
