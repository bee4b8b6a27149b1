output "site_address" {
  description = "The load balancer's public IP: point the domains' A records here."
  value       = google_compute_global_address.site.address
}

output "site_url" {
  description = "Where the site is served."
  value       = local.https ? "https://${var.domains[0]}/" : "http://${google_compute_global_address.site.address}/"
}

output "fiddle_bucket" {
  description = "Bucket of fiddles, sources, thumbnails and named fiddles."
  value       = google_storage_bucket.fiddle.name
}

output "site_bucket" {
  description = "Bucket of the static site; scripts/deploy uploads site/ to its static/ prefix."
  value       = google_storage_bucket.site.name
}

output "url_map" {
  description = "The load balancer's URL map (for CDN cache invalidation)."
  value       = google_compute_url_map.site.name
}

output "runner_url" {
  description = "The runners' internal load balancer, as the functions see it (FIDDLE_RUNNERS)."
  value       = local.runner_url
}

output "functions" {
  description = "Cloud Run service behind each function target."
  value       = { for key, fn in google_cloudfunctions2_function.function : key => fn.service_config[0].service }
}

output "functions_service_account" {
  value = google_service_account.functions.email
}

output "runner_service_account" {
  value = google_service_account.runner.email
}
