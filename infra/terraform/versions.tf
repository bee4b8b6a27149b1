terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }

  # State lives in the deploy bucket (created by scripts/deploy before the first init):
  #   terraform init -backend-config=bucket=<deploy bucket> -backend-config=prefix=terraform/<env>
  backend "gcs" {}
}

provider "google" {
  project = var.project
  region  = var.region

  default_labels = local.labels
}
