# The job worker on Google Cloud: Cloud Scheduler calls the `jobs` function (functions.tf) every
# few minutes with an OIDC token of a service account of its own, the only identity that may
# invoke it. Each call claims queued or abandoned jobs (their leases in Firestore, functions/jobs/)
# and works on them for 240 s; a job longer than that is resumed by the next call, from its last
# recorded item. Cloud Scheduler does not overlap calls it is still waiting on.

resource "google_service_account" "scheduler" {
  account_id   = "${var.env_name}-scheduler"
  display_name = "Fiddle job scheduler (${var.env_name})"
  depends_on   = [google_project_service.apis]
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invokes_jobs" {
  project  = var.project
  location = var.region
  name     = google_cloudfunctions2_function.function["jobs"].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_scheduler_job" "jobs" {
  name             = "${var.env_name}-jobs"
  region           = var.region
  description      = "Work on fiddle jobs (re-runs of named fiddles at new builds)"
  schedule         = var.jobs_schedule
  time_zone        = "Etc/UTC"
  attempt_deadline = "320s"

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.function["jobs"].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.function["jobs"].service_config[0].uri
    }
  }

  depends_on = [google_project_service.apis]
}
