# The fiddle service on Google Cloud: Cloud Functions (gen2) for the HTTP surface behind a global
# HTTPS load balancer that also serves the static site from a bucket through Cloud CDN; a bucket and
# Firestore for fiddles; persistent runner VMs behind an internal load balancer for execution.
# Files: main.tf (APIs, identities), storage.tf, network.tf, functions.tf, runners.tf,
# frontend.tf (load balancer, CDN, URL map), outputs.tf.

locals {
  labels = {
    app = "fiddle"
    env = var.env_name
  }

  secret_key_secret_id = coalesce(var.secret_key_secret_id, "${var.env_name}-secret-key")

  apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "compute.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    "vpcaccess.googleapis.com",
  ]
}

resource "google_project_service" "apis" {
  for_each = toset(local.apis)

  service            = each.value
  disable_on_destroy = false
}

# ---------------------------------------------------------------------------------------------
# Identities. Each gets only what it uses; nothing is granted to the default compute account.

# The functions: read and write fiddles, read and write Firestore documents, read the one secret.
# They reach the runners through the plain-TCP internal load balancer inside the VPC, so they need
# no invoker role there; they prove who they are to the runners with a Google ID token for the
# runners' audience, which any service account may mint for itself.
resource "google_service_account" "functions" {
  account_id   = "${var.env_name}-functions"
  display_name = "Fiddle functions (${var.env_name})"
  depends_on   = [google_project_service.apis]
}

resource "google_storage_bucket_iam_member" "functions_fiddle_objects" {
  bucket = google_storage_bucket.fiddle.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.functions.email}"
}

resource "google_project_iam_member" "functions_datastore_user" {
  project = var.project
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.functions.email}"
}

resource "google_secret_manager_secret_iam_member" "functions_secret_key" {
  project   = var.project
  secret_id = data.google_secret_manager_secret.secret_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.functions.email}"
}

# The runners run untrusted code: their identity may only write logs and metrics. No storage, no
# Firestore, no secrets (the runner receives code and returns outputs; the functions store them).
resource "google_service_account" "runner" {
  account_id   = "${var.env_name}-runner"
  display_name = "Fiddle runner VMs (${var.env_name})"
  depends_on   = [google_project_service.apis]
}

resource "google_project_iam_member" "runner_log_writer" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.runner.email}"
}

resource "google_project_iam_member" "runner_metric_writer" {
  project = var.project
  role    = "roles/monitoring.metricWriter"
  member  = "serviceAccount:${google_service_account.runner.email}"
}

# Cloud Build builds the functions' containers as this account instead of a broad default one:
# it reads the source zip, writes the image and its build logs.
resource "google_service_account" "build" {
  account_id   = "${var.env_name}-build"
  display_name = "Fiddle functions builds (${var.env_name})"
  depends_on   = [google_project_service.apis]
}

resource "google_storage_bucket_iam_member" "build_reads_deploy_bucket" {
  bucket = var.deploy_bucket
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.build.email}"
}

resource "google_project_iam_member" "build_log_writer" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

resource "google_project_iam_member" "build_artifact_writer" {
  project = var.project
  role    = "roles/artifactregistry.writer"
  member  = "serviceAccount:${google_service_account.build.email}"
}

# FIDDLE_SECRET_KEY (signs session cookies). The secret and its value are made outside Terraform
# (scripts/deploy pipes a random value to `gcloud secrets versions add` on stdin), so the value is
# in neither this code nor the Terraform state; reading it here fails the plan early if it is missing.
data "google_secret_manager_secret" "secret_key" {
  secret_id  = local.secret_key_secret_id
  depends_on = [google_project_service.apis]
}
