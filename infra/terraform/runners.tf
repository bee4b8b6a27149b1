locals {
  # What the runner VMs read at boot (infra/runner-vm/startup.sh). The service comes either as a
  # wheel carried in the metadata itself (base64; a metadata value holds up to 256 KiB), so the
  # runners need no storage access at all, or from a git ref.
  runner_source_metadata = var.runner_git_url != "" ? tomap({
    fiddle-git-url = var.runner_git_url
    fiddle-git-ref = var.runner_git_ref
    }) : tomap({
    fiddle-wheel      = (var.runner_wheel != "" ? filebase64(var.runner_wheel) : "")
    fiddle-wheel-name = basename(var.runner_wheel)
  })

  runner_metadata = merge(local.runner_source_metadata, {
    startup-script         = file("${path.module}/../runner-vm/startup.sh")
    fiddle-runner-unit     = file("${path.module}/../systemd/fiddle-runner.service")
    fiddle-runner-port     = tostring(var.runner_port)
    fiddle-runner-hosts    = tostring(var.runner_sandbox_hosts)
    fiddle-runner-audience = local.runner_audience
    enable-oslogin         = "TRUE"
    block-project-ssh-keys = "TRUE"
  })
}

# A runner VM: Debian 12, no external address, the runner identity, Shielded VM. A new wheel or
# start-up script makes a new template, which the group below rolls out.
resource "google_compute_instance_template" "runner" {
  name_prefix  = "${var.env_name}-runner-"
  machine_type = var.runner_machine_type

  disk {
    source_image = "debian-cloud/debian-12"
    disk_type    = "pd-balanced"
    disk_size_gb = 20
    boot         = true
    auto_delete  = true
  }

  # No access_config block: no external IP. Outbound traffic goes through Cloud NAT.
  network_interface {
    subnetwork = google_compute_subnetwork.runners.id
  }

  service_account {
    email  = google_service_account.runner.email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  scheduling {
    automatic_restart   = true
    on_host_maintenance = "MIGRATE"
  }

  metadata = local.runner_metadata

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = var.runner_git_url != "" || var.runner_wheel != ""
      error_message = "Set runner_wheel (a built wheel) or runner_git_url."
    }

    precondition {
      condition     = length(lookup(local.runner_source_metadata, "fiddle-wheel", "")) <= 262144
      error_message = "The wheel is too big for instance metadata (256 KiB once base64-encoded): install the runners from runner_git_url instead."
    }
  }
}

# Load balancing probes: quick to take a runner out of rotation.
resource "google_compute_health_check" "runner_lb" {
  name                = "${var.env_name}-runner-lb"
  check_interval_sec  = 5
  timeout_sec         = 3
  healthy_threshold   = 2
  unhealthy_threshold = 2

  http_health_check {
    port         = var.runner_port
    request_path = "/healthz"
  }
}

# Autohealing probes: slower to give up, since they recreate the VM.
resource "google_compute_health_check" "runner_autoheal" {
  name                = "${var.env_name}-runner-autoheal"
  check_interval_sec  = 15
  timeout_sec         = 5
  healthy_threshold   = 2
  unhealthy_threshold = 6

  http_health_check {
    port         = var.runner_port
    request_path = "/healthz"
  }
}

# The runners, spread over the region's zones; a VM failing /healthz is recreated.
resource "google_compute_region_instance_group_manager" "runners" {
  name               = "${var.env_name}-runners"
  region             = var.region
  base_instance_name = "${var.env_name}-runner"

  version {
    instance_template = google_compute_instance_template.runner.id
  }

  named_port {
    name = "runner"
    port = var.runner_port
  }

  auto_healing_policies {
    health_check = google_compute_health_check.runner_autoheal.id
    # apt-get, pip install of skia-python and the first sandbox hosts take a few minutes.
    initial_delay_sec = 900
  }

  # New template: add new VMs first, then drop old ones. A fixed surge must be 0 or at least the
  # number of zones the group spans (3 by default; 4 covers regions where it spans 4).
  update_policy {
    type                         = "PROACTIVE"
    minimal_action               = "REPLACE"
    instance_redistribution_type = "PROACTIVE"
    max_surge_fixed              = 4
    max_unavailable_fixed        = 0
  }
}

resource "google_compute_region_autoscaler" "runners" {
  name   = "${var.env_name}-runners"
  region = var.region
  target = google_compute_region_instance_group_manager.runners.id

  autoscaling_policy {
    min_replicas    = var.runner_min_replicas
    max_replicas    = var.runner_max_replicas
    cooldown_period = 600

    cpu_utilization {
      target = 0.6
    }
  }
}

# The runners' internal passthrough (TCP) load balancer: the functions' one runner URL. Plain
# TCP keeps the callers' addresses, so the firewall can admit exactly the connector's range.
resource "google_compute_address" "runners" {
  name         = "${var.env_name}-runners-ilb"
  region       = var.region
  subnetwork   = google_compute_subnetwork.runners.id
  address_type = "INTERNAL"
}

resource "google_compute_region_backend_service" "runners" {
  name                            = "${var.env_name}-runners"
  region                          = var.region
  load_balancing_scheme           = "INTERNAL"
  protocol                        = "TCP"
  health_checks                   = [google_compute_health_check.runner_lb.id]
  connection_draining_timeout_sec = 60

  backend {
    group          = google_compute_region_instance_group_manager.runners.instance_group
    balancing_mode = "CONNECTION"
  }
}

resource "google_compute_forwarding_rule" "runners" {
  name                  = "${var.env_name}-runners"
  region                = var.region
  load_balancing_scheme = "INTERNAL"
  ip_protocol           = "TCP"
  ports                 = [tostring(var.runner_port)]
  ip_address            = google_compute_address.runners.address
  network               = google_compute_network.main.id
  subnetwork            = google_compute_subnetwork.runners.id
  backend_service       = google_compute_region_backend_service.runners.id
}
