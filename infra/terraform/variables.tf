# Inputs of the hlsfleet module. The timing variables are tied together; see
# infra/README.md ("Timeouts") for the arithmetic the tests under infra/ check.

variable "name" {
  description = "Prefix for every resource name (queues, buckets, ASGs, roles)."
  type        = string
  default     = "hlsfleet"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lower-case letters, digits or dashes, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

# --- network -----------------------------------------------------------------

variable "subnet_ids" {
  description = "Private subnets for the worker ASGs (several AZs widen the spot pools)."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups for worker instances. Workers need only outbound HTTPS (S3, SQS, ECR, CloudWatch, Auto Scaling)."
  type        = list(string)
  default     = []
}

# --- images --------------------------------------------------------------------

variable "worker_image" {
  description = "Image built from the Dockerfile's `worker` target (e.g. an ECR URI with a tag or digest). It must have `hlsfleet` on its PATH."
  type        = string
}

variable "worker_gpu_image" {
  description = "Image built from the Dockerfile's `worker-gpu` target."
  type        = string
}

variable "lambda_image_uri" {
  description = "ECR image URI of the Dockerfile's `lambda` target (issue C: short clips inline, longer ones to the queues)."
  type        = string
}

# --- buckets -------------------------------------------------------------------

variable "source_bucket_name" {
  description = "Name of the source (upload) bucket. Empty: <name>-source-<account id>."
  type        = string
  default     = ""
}

variable "output_bucket_name" {
  description = "Name of the output (HLS) bucket. Empty: <name>-output-<account id>."
  type        = string
  default     = ""
}

variable "kms_key_arn" {
  description = "KMS key for bucket encryption (SSE-KMS with bucket keys). Empty: SSE-S3 (AES256)."
  type        = string
  default     = ""
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets. Keep false in production."
  type        = bool
  default     = false
}

variable "upload_prefix" {
  description = "Key prefix of uploads that become VOD jobs on the jobs queue (S3 notification)."
  type        = string
  default     = "uploads/"
}

variable "short_clip_prefix" {
  description = "Key prefix of uploads sent to the Lambda, which transcodes short clips inline and queues the rest."
  type        = string
  default     = "clips/"
}

variable "live_prefix" {
  description = "Key prefix of live segments (live/<stream>/<seq>.ts|.m4s|.mp4 and live/<stream>/END), sent by the Lambda to the live FIFO queue, grouped by stream."
  type        = string
  default     = "live/"
}

variable "source_expiration_days" {
  description = "Delete source objects after this many days (0 = keep). Outputs are never expired by the module."
  type        = number
  default     = 0
}

# --- queues and timing -------------------------------------------------------------

variable "visibility_timeout_seconds" {
  description = "SQS visibility timeout of every work queue AND the worker's --visibility flag (one value for both). The worker extends each lease every visibility/3, so the queue always holds at least 3 heartbeat intervals. 60 s (the worker's own default): a dead worker's job or chunk is visible again within a minute, for 3 ChangeMessageVisibility calls per running job per minute."
  type        = number
  default     = 60

  validation {
    condition     = var.visibility_timeout_seconds >= 30 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 30 and 43200 (the SQS maximum)."
  }
}

variable "drain_timeout_seconds" {
  description = "Worker --drain-timeout: on scale-in or SIGTERM, how long running jobs may finish before they are released (visibility 0) to another worker."
  type        = number
  default     = 300

  validation {
    condition     = var.drain_timeout_seconds >= 10 && var.drain_timeout_seconds <= 6900
    error_message = "drain_timeout_seconds must be between 10 and 6900 (lifecycle heartbeat timeout is at most 7200 s, margin included)."
  }
}

variable "lifecycle_margin_seconds" {
  description = "Added to the drain timeout for the termination lifecycle hook's heartbeat timeout and the container stop timeout: time to release leases and call CompleteLifecycleAction."
  type        = number
  default     = 60

  validation {
    condition     = var.lifecycle_margin_seconds >= 30 && var.lifecycle_margin_seconds <= 300
    error_message = "lifecycle_margin_seconds must be between 30 and 300."
  }
}

variable "max_receive_count" {
  description = "Receives before SQS moves a message to its DLQ (the worker dead-letters permanent failures at once)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 2 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 2 and 1000."
  }
}

variable "message_retention_seconds" {
  description = "Retention of the work queues."
  type        = number
  default     = 345600
}

variable "dlq_retention_seconds" {
  description = "Retention of the DLQs (the maximum, 14 days, by default: longer than the queues so nothing expires before it is inspected)."
  type        = number
  default     = 1209600
}

# --- CPU fleet --------------------------------------------------------------------

variable "cpu_instance_types" {
  description = "Instance types of the CPU ASG's mixed instances policy (at least 6 for deep spot pools). Similar vCPU/memory so a job's duration is similar on each."
  type        = list(string)
  default     = ["c7i.2xlarge", "c6i.2xlarge", "c7a.2xlarge", "c6a.2xlarge", "c5.2xlarge", "c5a.2xlarge", "m7i.2xlarge", "m6i.2xlarge"]

  validation {
    condition     = length(var.cpu_instance_types) >= 6
    error_message = "cpu_instance_types needs at least 6 types."
  }
}

variable "cpu_min_size" {
  description = "Minimum CPU workers (0 lets the fleet scale to zero; live streams want at least 1)."
  type        = number
  default     = 1
}

variable "cpu_max_size" {
  description = "Maximum CPU workers."
  type        = number
  default     = 20
}

variable "cpu_on_demand_base_capacity" {
  description = "CPU workers that are always on-demand (the floor that survives a spot drought)."
  type        = number
  default     = 1
}

variable "cpu_on_demand_percentage_above_base" {
  description = "Percentage of on-demand capacity above the base (0 = all spot)."
  type        = number
  default     = 0

  validation {
    condition     = var.cpu_on_demand_percentage_above_base >= 0 && var.cpu_on_demand_percentage_above_base < 100
    error_message = "cpu_on_demand_percentage_above_base must be 0-99: the fleet is a spot fleet."
  }
}

variable "cpu_concurrency" {
  description = "Worker --concurrency for the VOD worker on CPU instances (0 = half the cores)."
  type        = number
  default     = 0
}

variable "live_concurrency" {
  description = "Worker --concurrency for the live-segment worker every CPU instance runs beside the VOD worker."
  type        = number
  default     = 1
}

variable "cpu_seconds_per_job" {
  description = "Measured mean seconds one CPU instance spends per VOD job (all its slots together: wall time per job / concurrency)."
  type        = number
  default     = 60
}

# --- GPU fleet --------------------------------------------------------------------

variable "gpu_instance_types" {
  description = "Instance types of the GPU ASG (NVIDIA, NVENC). At least 6."
  type        = list(string)
  default     = ["g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge", "g5.2xlarge", "g6.xlarge", "g6.2xlarge", "g6e.xlarge"]

  validation {
    condition     = length(var.gpu_instance_types) >= 6
    error_message = "gpu_instance_types needs at least 6 types."
  }
}

variable "gpu_min_size" {
  description = "Minimum GPU workers."
  type        = number
  default     = 0
}

variable "gpu_max_size" {
  description = "Maximum GPU workers."
  type        = number
  default     = 4
}

variable "gpu_on_demand_base_capacity" {
  description = "GPU workers that are always on-demand."
  type        = number
  default     = 0
}

variable "gpu_on_demand_percentage_above_base" {
  description = "Percentage of on-demand GPU capacity above the base (0 = all spot)."
  type        = number
  default     = 0

  validation {
    condition     = var.gpu_on_demand_percentage_above_base >= 0 && var.gpu_on_demand_percentage_above_base < 100
    error_message = "gpu_on_demand_percentage_above_base must be 0-99: the fleet is a spot fleet."
  }
}

variable "gpu_concurrency" {
  description = "Worker --concurrency on GPU instances (0 = the worker's default)."
  type        = number
  default     = 0
}

variable "gpu_seconds_per_job" {
  description = "Measured mean seconds one GPU instance spends per job."
  type        = number
  default     = 20
}

# --- both fleets --------------------------------------------------------------------

variable "spot_allocation_strategy" {
  description = "Spot allocation strategy of both ASGs."
  type        = string
  default     = "price-capacity-optimized"

  validation {
    condition     = contains(["capacity-optimized", "price-capacity-optimized", "capacity-optimized-prioritized"], var.spot_allocation_strategy)
    error_message = "spot_allocation_strategy must be capacity-optimized, capacity-optimized-prioritized or price-capacity-optimized."
  }
}

variable "acceptable_latency_seconds" {
  description = "How long a job may wait in the queue. Target backlog per instance = acceptable latency / seconds per job."
  type        = number
  default     = 600
}

variable "scale_in_protection" {
  description = "Pass --scale-in-protection: a busy worker protects its instance from scale-in (SetInstanceProtection)."
  type        = bool
  default     = false
}

variable "cpu_ami_ssm_parameter" {
  description = "SSM parameter holding the CPU worker AMI (Amazon Linux 2023; the user data installs Docker)."
  type        = string
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

variable "gpu_ami_ssm_parameter" {
  description = "SSM parameter holding the GPU worker AMI (NVIDIA driver, Docker and the NVIDIA container toolkit installed)."
  type        = string
  default     = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"
}

variable "root_volume_gb" {
  description = "Root volume (gp3) of each worker: image layers and job scratch space."
  type        = number
  default     = 100
}

variable "max_memory_mib" {
  description = "Worker --max-memory: per-job memory limit in MiB (0 = none)."
  type        = number
  default     = 0
}

variable "metrics_port" {
  description = "Port of the worker's /metrics, /healthz and /readyz (bound to 127.0.0.1 on EC2)."
  type        = number
  default     = 9090
}

variable "log_level" {
  description = "Worker --log-level."
  type        = string
  default     = "info"
}

variable "log_retention_days" {
  description = "Retention of the worker and Lambda log groups."
  type        = number
  default     = 30
}

# --- Lambda ----------------------------------------------------------------------------

variable "short_clip_seconds" {
  description = "HLSFLEET_SHORT_CLIP_SECONDS: clips up to this long are transcoded inside the Lambda; longer ones are queued."
  type        = number
  default     = 60
}

variable "lambda_timeout_seconds" {
  description = "Lambda timeout (the SQS-free S3 trigger has no visibility constraint; keep it above the slowest short clip)."
  type        = number
  default     = 900

  validation {
    condition     = var.lambda_timeout_seconds >= 30 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be between 30 and 900."
  }
}

variable "lambda_memory_mb" {
  description = "Lambda memory (also buys vCPUs: 1769 MB = 1 vCPU, 10240 MB = 6)."
  type        = number
  default     = 4096
}

variable "lambda_ephemeral_storage_mb" {
  description = "Lambda /tmp size in MB (512-10240)."
  type        = number
  default     = 4096

  validation {
    condition     = var.lambda_ephemeral_storage_mb >= 512 && var.lambda_ephemeral_storage_mb <= 10240
    error_message = "lambda_ephemeral_storage_mb must be between 512 and 10240."
  }
}

# --- alarms --------------------------------------------------------------------------------

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (empty: subscribe something else to the topic output)."
  type        = string
  default     = ""
}

variable "oldest_message_alarm_seconds" {
  description = "Alarm when the oldest VOD job has waited this long."
  type        = number
  default     = 1800
}

variable "live_oldest_message_alarm_seconds" {
  description = "Alarm when the oldest live segment has waited this long (a live player stalls after a few segment durations)."
  type        = number
  default     = 30
}

variable "worker_error_threshold" {
  description = "Alarm when the workers log more error lines than this in 5 minutes."
  type        = number
  default     = 10
}
