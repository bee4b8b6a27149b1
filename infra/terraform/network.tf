# A VPC of its own: its only ingress rules are the ones below (a custom VPC denies all other
# ingress by default), so no rule from a shared or default network applies to the runners.
resource "google_compute_network" "main" {
  name                    = "${var.env_name}-vpc"
  auto_create_subnetworks = false
  routing_mode            = "REGIONAL"
  depends_on              = [google_project_service.apis]
}

# The runners' subnet. Private Google Access: the runners have no external address, yet reach
# Cloud Logging, Monitoring and Google's ID-token certificates.
resource "google_compute_subnetwork" "runners" {
  name                     = "${var.env_name}-runners"
  region                   = var.region
  network                  = google_compute_network.main.id
  ip_cidr_range            = var.runner_subnet_cidr
  private_ip_google_access = true
}

# Outbound-only internet for the runners (apt-get and pip at boot, the Ops Agent's repository).
# Nothing can connect in through it. Sandboxed runs have no network at all (nspawn --private-network).
resource "google_compute_router" "main" {
  name    = "${var.env_name}-router"
  region  = var.region
  network = google_compute_network.main.id
}

resource "google_compute_router_nat" "runners" {
  name                               = "${var.env_name}-nat"
  region                             = var.region
  router                             = google_compute_router.main.name
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "LIST_OF_SUBNETWORKS"

  subnetwork {
    name                    = google_compute_subnetwork.runners.id
    source_ip_ranges_to_nat = ["ALL_IP_RANGES"]
  }

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# How the functions get into the VPC: their requests to private ranges (the runners' internal
# load balancer) leave from this connector's /28, which is what the runner firewall admits.
resource "google_vpc_access_connector" "functions" {
  name          = "${var.env_name}-conn"
  region        = var.region
  network       = google_compute_network.main.name
  ip_cidr_range = var.connector_cidr
  machine_type  = "e2-micro"
  min_instances = 2
  max_instances = 3
  depends_on    = [google_project_service.apis]
}

# The runners accept the runner port from the functions' connector and from Google's health
# checkers (35.191.0.0/16 and 130.211.0.0/22: load balancing and autohealing probes of /healthz),
# and nothing else: no SSH, no ICMP.
resource "google_compute_firewall" "runners_allow" {
  name      = "${var.env_name}-runners-allow"
  network   = google_compute_network.main.id
  direction = "INGRESS"
  priority  = 100

  source_ranges           = [var.connector_cidr, "35.191.0.0/16", "130.211.0.0/22"]
  target_service_accounts = [google_service_account.runner.email]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.runner_port)]
  }

  log_config {
    metadata = "EXCLUDE_ALL_METADATA"
  }
}

# Everything else is denied at priority 200: an allow rule added to this network later with the
# default priority (1000) still cannot reach the runners; only a deliberate priority below 200 can.
resource "google_compute_firewall" "runners_deny" {
  name      = "${var.env_name}-runners-deny"
  network   = google_compute_network.main.id
  direction = "INGRESS"
  priority  = 200

  source_ranges           = ["0.0.0.0/0"]
  target_service_accounts = [google_service_account.runner.email]

  deny {
    protocol = "all"
  }
}
