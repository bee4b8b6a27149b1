variable "project" {
  description = "Google Cloud project id."
  type        = string
}

variable "region" {
  description = "Region of the buckets, functions, connector and runners, e.g. us-central1."
  type        = string
}

variable "env_name" {
  description = "Short name of this deployment; prefixes every resource name (service-account ids cap it at 16 characters)."
  type        = string
  default     = "fiddle"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", var.env_name))
    error_message = "env_name: 2 to 16 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "domains" {
  description = "Domains of the site, for a Google-managed certificate. Empty: plain HTTP on the load balancer's address (before DNS exists)."
  type        = list(string)
  default     = []
}

variable "deploy_bucket" {
  description = "Existing bucket that holds the Terraform state and the functions' source zips (scripts/deploy creates it)."
  type        = string
}

variable "functions_source_object" {
  description = "Object in deploy_bucket: the zip of the functions' source. Its name carries a content hash, so a new zip redeploys the functions."
  type        = string
}

variable "runner_wheel" {
  description = "Local path of the fiddle-service wheel that the runner VMs install (sent to them in instance metadata). Ignored when runner_git_url is set."
  type        = string
  default     = ""
}

variable "runner_git_url" {
  description = "Instead of a wheel: an https git URL the runner VMs install the service from (at runner_git_ref)."
  type        = string
  default     = ""
}

variable "runner_git_ref" {
  description = "Branch, tag or commit of runner_git_url."
  type        = string
  default     = "main"
}

variable "secret_key_secret_id" {
  description = "Secret Manager secret holding FIDDLE_SECRET_KEY (created with a version by scripts/deploy; never in Terraform state). Default: <env_name>-secret-key."
  type        = string
  default     = null
}

variable "firestore_location" {
  description = "Firestore location. Default: the region."
  type        = string
  default     = null
}

variable "runner_port" {
  description = "Port `fiddle runner` listens on."
  type        = number
  default     = 8081
}

variable "runner_sandbox_hosts" {
  description = "Warm sandbox hosts per runner VM (`fiddle runner --hosts`): 2 x cores + 2, so that runs that only sleep cannot hold every host (~22 MiB each)."
  type        = number
  default     = 6
}

variable "runner_machine_type" {
  description = "Machine type of the runner VMs."
  type        = string
  default     = "e2-standard-2"
}

variable "runner_min_replicas" {
  description = "Fewest runner VMs the autoscaler keeps."
  type        = number
  default     = 2
}

variable "runner_max_replicas" {
  description = "Most runner VMs the autoscaler starts."
  type        = number
  default     = 6
}

variable "runner_subnet_cidr" {
  description = "Range of the runners' subnet (and of the runners' internal load balancer)."
  type        = string
  default     = "10.10.0.0/24"
}

variable "connector_cidr" {
  description = "/28 range of the Serverless VPC Access connector: the only source, besides Google's health checkers, that may reach the runners."
  type        = string
  default     = "10.8.0.0/28"
}

variable "functions_max_instances" {
  description = "Upper bound on instances of each function."
  type        = number
  default     = 20
}

variable "jobs_schedule" {
  description = "How often Cloud Scheduler calls the job worker (cron, UTC); each call works 240 s."
  type        = string
  default     = "*/5 * * * *"
}
