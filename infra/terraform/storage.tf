# Fiddles: fiddle/<hash>/..., source/..., thumbnail/..., named/... (functions/fiddles.py).
resource "google_storage_bucket" "fiddle" {
  name     = "${var.project}-${var.env_name}-fiddles"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # Writes race through generation preconditions, which versioning would not make safer, and
  # noncurrent versions would only keep deleted content (admin takedowns) around at a cost.
  versioning {
    enabled = false
  }

  # No age-based rule touches fiddle/, source/, thumbnail/ or named/: links to a fiddle must never
  # break, so those objects live until an admin deletes them. Only scratch data expires: anything
  # under tmp/ (staging space; a writer that dies mid-way leaves it behind) after a day, and
  # multipart uploads abandoned half-way, which are billed while they linger.
  lifecycle_rule {
    condition {
      age            = 1
      matches_prefix = ["tmp/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      age = 1
    }
    action {
      type = "AbortIncompleteMultipartUpload"
    }
  }

  depends_on = [google_project_service.apis]
}

# The static site (`fiddle build-site`: index.html, and the editor bundle, CSS and examples under
# static/), served through the load balancer's backend bucket with Cloud CDN; index.html is the
# main page, so / is the editor. Its objects are public: that is what a CDN origin
# bucket is for, and it holds nothing else.
resource "google_storage_bucket" "site" {
  name     = "${var.project}-${var.env_name}-site"
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "inherited"

  website {
    main_page_suffix = "index.html"
  }

  # <fiddle-embed> loads /static/dist/embed.js as a module from other sites, which browsers fetch
  # with CORS; the assets are public and read-only, so any origin may read them, without cookies.
  cors {
    origin          = ["*"]
    method          = ["GET", "HEAD"]
    response_header = ["Content-Type"]
    max_age_seconds = 3600
  }

  versioning {
    enabled = false
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket_iam_member" "site_public_read" {
  bucket = google_storage_bucket.site.name
  role   = "roles/storage.objectViewer"
  member = "allUsers"
}

# Documents: users, sessions, named fiddles, audit log. Native mode; the code writes concurrently
# with create(), update-time preconditions and Increment, not long transactions.
resource "google_firestore_database" "main" {
  name        = "(default)"
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"

  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  deletion_policy         = "ABANDON"

  depends_on = [google_project_service.apis]
}
