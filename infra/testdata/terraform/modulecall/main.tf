# Broken on purpose: lambda_image_uri (required) is missing and
# worker_count is not a variable of the module.
module "hlsfleet" {
  source = "../.."

  subnet_ids       = ["subnet-a"]
  worker_image     = "worker:v1"
  worker_gpu_image = "worker-gpu:v1"
  worker_count     = 3
}
