locals {
  # The URL map: these paths go to the function of the same key; everything else comes from
  # the site bucket through Cloud CDN: the editor page at / (the bucket's index.html, written by
  # `fiddle build-site`) and its assets under /static/. Path rules match longest
  # first, so /_/run beats the /_/* catch-all, which sends unknown API paths to `pages` for a
  # JSON 404. Exactly the paths the blueprints declare with their route policies
  # (functions/routing.py; tests/test_infra.py checks it).
  routes = {
    run    = ["/_/run"]
    name   = ["/_/name"]
    upload = ["/_/upload"]
    admin  = ["/admin", "/admin/*", "/_/source/*", "/_/named/*", "/_/jobs", "/_/jobs/*"]
    pages = [
      "/_/*", "/_/sources", "/_/builds", "/c/*", "/iframe/*", "/e/*", "/i/*", "/ai/*", "/s/*",
      "/named", "/named/*", "/oembed", "/signin", "/signout", "/healthz", "/openapi.json", "/api",
    ]
  }

  https = length(var.domains) > 0

  page_policy = "default-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'self'; frame-src 'self'; frame-ancestors 'none'"
}

# The static site: the load balancer serves the site bucket through Cloud CDN.
resource "google_compute_backend_bucket" "site" {
  name             = "${var.env_name}-site"
  bucket_name      = google_storage_bucket.site.name
  enable_cdn       = true
  compression_mode = "AUTOMATIC"

  # The headers functions/headers.py gives the same page when fiddle serve renders it (the
  # policy of functions/routing.py's DEFAULT_POLICY; tests/test_infra.py checks that they agree).
  custom_response_headers = [
    "Content-Security-Policy: ${local.page_policy}",
    "X-Frame-Options: DENY",
    "X-Content-Type-Options: nosniff",
  ]

  cdn_policy {
    cache_mode        = "CACHE_ALL_STATIC"
    default_ttl       = 300
    client_ttl        = 300
    max_ttl           = 86400
    serve_while_stale = 86400
    negative_caching  = true
  }
}

# One serverless network endpoint group and backend service per function.
resource "google_compute_region_network_endpoint_group" "function" {
  for_each = local.routed_functions

  name                  = "${var.env_name}-${each.key}"
  region                = var.region
  network_endpoint_type = "SERVERLESS"

  # A gen2 function is served by a Cloud Run service of its own.
  cloud_run {
    service = google_cloudfunctions2_function.function[each.key].service_config[0].service
  }
}

resource "google_compute_backend_service" "function" {
  for_each = local.routed_functions

  name                  = "${var.env_name}-${each.key}"
  load_balancing_scheme = "EXTERNAL_MANAGED"

  backend {
    group = google_compute_region_network_endpoint_group.function[each.key].id
  }

  # Cloud CDN in front of the pages function, which serves the outputs (/i/, /ai/) and source
  # images: it keeps only what the function says it may (USE_ORIGIN_HEADERS). An output of a
  # fiddle without a source image can never change or be withdrawn, so /ai/ says `public,
  # max-age=31536000, immutable` and /i/ `public, max-age=60`; an output rendered from a source
  # image, and the image itself, can be taken back by an admin, so they say `private` and no
  # shared cache holds them (functions/routes/media.py). Errors are never cached: an output
  # asked for before its run was stored must be found right after.
  enable_cdn = each.key == "pages"

  dynamic "cdn_policy" {
    for_each = each.key == "pages" ? [1] : []
    content {
      cache_mode       = "USE_ORIGIN_HEADERS"
      negative_caching = false
      cache_key_policy {
        include_host         = true
        include_protocol     = true
        include_query_string = true
      }
    }
  }

  log_config {
    enable      = true
    sample_rate = 1
  }
}

resource "google_compute_url_map" "site" {
  name            = "${var.env_name}-site"
  default_service = google_compute_backend_bucket.site.id

  host_rule {
    hosts        = ["*"]
    path_matcher = "fiddle"
  }

  path_matcher {
    name            = "fiddle"
    default_service = google_compute_backend_bucket.site.id

    path_rule {
      paths   = ["/static/*"]
      service = google_compute_backend_bucket.site.id
    }

    dynamic "path_rule" {
      for_each = local.routes
      content {
        paths   = path_rule.value
        service = google_compute_backend_service.function[path_rule.key].id
      }
    }
  }
}

resource "google_compute_global_address" "site" {
  name = "${var.env_name}-site"
}

# With domains: HTTPS with a Google-managed certificate, and port 80 redirects to it.
resource "google_compute_managed_ssl_certificate" "site" {
  count = local.https ? 1 : 0

  # Named after its domains: a change of domains makes a new certificate before the old one goes.
  name = "${var.env_name}-site-${substr(sha256(join(",", var.domains)), 0, 8)}"
  managed {
    domains = var.domains
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_target_https_proxy" "site" {
  count = local.https ? 1 : 0

  name             = "${var.env_name}-site"
  url_map          = google_compute_url_map.site.id
  ssl_certificates = [google_compute_managed_ssl_certificate.site[0].id]
}

resource "google_compute_global_forwarding_rule" "https" {
  count = local.https ? 1 : 0

  name                  = "${var.env_name}-https"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  port_range            = "443"
  ip_address            = google_compute_global_address.site.id
  target                = google_compute_target_https_proxy.site[0].id
}

resource "google_compute_url_map" "redirect_to_https" {
  count = local.https ? 1 : 0

  name = "${var.env_name}-redirect"
  default_url_redirect {
    https_redirect         = true
    redirect_response_code = "MOVED_PERMANENTLY_DEFAULT"
    strip_query            = false
  }
}

# Port 80: the redirect with domains; without them (before DNS exists) the site itself.
resource "google_compute_target_http_proxy" "site" {
  name    = "${var.env_name}-http"
  url_map = local.https ? google_compute_url_map.redirect_to_https[0].id : google_compute_url_map.site.id
}

resource "google_compute_global_forwarding_rule" "http" {
  name                  = "${var.env_name}-http"
  load_balancing_scheme = "EXTERNAL_MANAGED"
  ip_protocol           = "TCP"
  port_range            = "80"
  ip_address            = google_compute_global_address.site.id
  target                = google_compute_target_http_proxy.site.id
}
