# A complete deployment of the hlsfleet module in an existing VPC.
#
#   terraform init
#   terraform apply -var 'subnet_ids=["subnet-...","subnet-..."]' \
#     -var worker_image=123456789012.dkr.ecr.eu-west-1.amazonaws.com/hlsfleet/worker:v1 \
#     -var worker_gpu_image=123456789012.dkr.ecr.eu-west-1.amazonaws.com/hlsfleet/worker-gpu:v1 \
#     -var lambda_image_uri=123456789012.dkr.ecr.eu-west-1.amazonaws.com/hlsfleet/lambda:v1

terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0, < 7.0.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "subnet_ids" {
  description = "Private subnets in two or more AZs."
  type        = list(string)
}

variable "worker_image" {
  description = "ECR URI of the `worker` image."
  type        = string
}

variable "worker_gpu_image" {
  description = "ECR URI of the `worker-gpu` image."
  type        = string
}

variable "lambda_image_uri" {
  description = "ECR URI of the `lambda` image."
  type        = string
}

variable "alarm_email" {
  description = "Where alarms go."
  type        = string
  default     = ""
}

module "hlsfleet" {
  source = "../.."

  name             = "hlsfleet-demo"
  subnet_ids       = var.subnet_ids
  worker_image     = var.worker_image
  worker_gpu_image = var.worker_gpu_image
  lambda_image_uri = var.lambda_image_uri
  alarm_email      = var.alarm_email

  # Jobs of ~60 s of machine time per instance may wait 10 minutes: each
  # instance may hold 600 / 60 = 10 queued + running jobs.
  acceptable_latency_seconds = 600
  cpu_seconds_per_job        = 60
  gpu_seconds_per_job        = 20

  # Leases of 5 minutes, extended every 100 s; 5 minutes to drain on scale-in.
  visibility_timeout_seconds = 300
  drain_timeout_seconds      = 300

  cpu_min_size                = 1
  cpu_max_size                = 40
  cpu_on_demand_base_capacity = 1
  gpu_max_size                = 8

  tags = { environment = "demo" }
}

output "jobs_queue_url" {
  value = module.hlsfleet.jobs_queue_url
}

output "source_bucket" {
  value = module.hlsfleet.source_bucket
}

output "dashboard_name" {
  value = module.hlsfleet.dashboard_name
}

output "timing" {
  value = module.hlsfleet.timing
}
