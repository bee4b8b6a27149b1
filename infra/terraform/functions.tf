locals {
  # One Cloud Function (gen2) per endpoint group; the key is the functions-framework target in
  # functions/main.py. `concurrency` requests share an instance (they mostly wait on a runner or
  # on storage); `timeout` covers a run's retries across runners.
  functions = {
    run    = { memory = "512Mi", timeout = 120, concurrency = 16 }
    name   = { memory = "512Mi", timeout = 60, concurrency = 16 }
    upload = { memory = "1Gi", timeout = 120, concurrency = 4 }
    pages  = { memory = "512Mi", timeout = 60, concurrency = 32 }
    admin  = { memory = "512Mi", timeout = 60, concurrency = 8 }
    # The job worker (functions/main.py, jobs): no route leads to it; Cloud Scheduler calls it
    # (jobs.tf), and each call works on jobs for 240 s, well within its timeout.
    jobs = { memory = "512Mi", timeout = 300, concurrency = 1 }
  }
  # The functions the load balancer routes to (frontend.tf) and anyone may invoke through it.
  routed_functions = { for key, value in local.functions : key => value if key != "jobs" }

  runner_url      = "http://${google_compute_address.runners.address}:${var.runner_port}"
  runner_audience = local.runner_url

  functions_env = {
    FIDDLE_BLOB_STORE      = "gcs"
    FIDDLE_BUCKET          = google_storage_bucket.fiddle.name
    FIDDLE_DOC_STORE       = "firestore"
    GOOGLE_CLOUD_PROJECT   = var.project
    FIDDLE_RUNNERS         = local.runner_url
    FIDDLE_RUNNER_AUDIENCE = local.runner_audience
    FIDDLE_SECURE_COOKIES  = "1"
    FIDDLE_DATA_DIR        = "/tmp/fiddle"
    # The load balancer appends two addresses to X-Forwarded-For: the client's and its own. The
    # rate limits and quotas key on the client's (functions/app.py, _trust_proxies).
    FIDDLE_TRUSTED_PROXIES = "2"
    # Share links, embed snippets and oEmbed name this origin, never a request's Host header.
    FIDDLE_PUBLIC_URL = local.https ? "https://${var.domains[0]}" : "http://${google_compute_global_address.site.address}"
  }
}

resource "google_cloudfunctions2_function" "function" {
  for_each = local.functions

  name        = "${var.env_name}-${each.key}"
  location    = var.region
  description = "Fiddle: the ${each.key} endpoints (functions/main.py, target ${each.key})"

  build_config {
    runtime         = "python311"
    entry_point     = each.key
    service_account = google_service_account.build.id

    # The zip (made by scripts/deploy) holds the repository's functions/, fiddle_protocol/,
    # runner_vm/, templates/ and infra/*.toml, a requirements.txt and a root main.py that
    # re-exports functions/main.py.
    source {
      storage_source {
        bucket = var.deploy_bucket
        object = var.functions_source_object
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = "1"
    timeout_seconds                  = each.value.timeout
    max_instance_request_concurrency = each.value.concurrency
    min_instance_count               = 0
    max_instance_count               = var.functions_max_instances
    service_account_email            = google_service_account.functions.email
    all_traffic_on_latest_revision   = true

    # Only the load balancer (and the VPC) may call the functions: not their run.app URLs. The
    # job worker is called by Cloud Scheduler at its own URL, which only the scheduler's service
    # account may invoke (jobs.tf).
    ingress_settings = each.key == "jobs" ? "ALLOW_ALL" : "ALLOW_INTERNAL_AND_GCLB"

    # Private ranges (the runners' internal load balancer) go through the connector;
    # Google APIs and everything else leave directly.
    vpc_connector                 = google_vpc_access_connector.functions.id
    vpc_connector_egress_settings = "PRIVATE_RANGES_ONLY"

    environment_variables = local.functions_env

    secret_environment_variables {
      key        = "FIDDLE_SECRET_KEY"
      project_id = var.project
      secret     = data.google_secret_manager_secret.secret_key.secret_id
      version    = "latest"
    }
  }

  depends_on = [
    google_project_service.apis,
    google_secret_manager_secret_iam_member.functions_secret_key,
    google_storage_bucket_iam_member.build_reads_deploy_bucket,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_artifact_writer,
  ]
}

# The site is public: anyone may invoke the functions, but only through the load balancer
# (ingress above), which is where the URL map, TLS and CDN are.
resource "google_cloud_run_v2_service_iam_member" "public_invoker" {
  for_each = local.routed_functions

  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "allUsers"
}
