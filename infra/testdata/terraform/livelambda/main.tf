# Broken on purpose: the live prefix reaches the Lambda, but its
# environment names no live queue (live segments would go to the CPU
# queue) and its rules make VOD jobs of them; another bucket notifies the
# jobs queue of live objects and no worker reading it has --live-queue.
variable "live_prefix" {
  type    = string
  default = "live/"
}

resource "aws_s3_bucket" "source" {
  bucket = "source"
}

resource "aws_s3_bucket" "other" {
  bucket = "other"
}

resource "aws_sqs_queue" "jobs_dlq" {
  name = "jobs-dlq"
}

resource "aws_sqs_queue" "jobs" {
  name = "jobs"
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.jobs_dlq.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue" "live_dlq" {
  name       = "live-dlq.fifo"
  fifo_queue = true
}

resource "aws_sqs_queue" "live" {
  name       = "live.fifo"
  fifo_queue = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.live_dlq.arn
    maxReceiveCount     = 5
  })
}

locals {
  worker_args = ["worker", "--queue", aws_sqs_queue.jobs.url, "--visibility", "300s"]
}

resource "aws_lambda_function" "clips" {
  function_name = "clips"
  role          = aws_iam_role.lambda.arn
  environment {
    variables = {
      HLSFLEET_QUEUE_URL = aws_sqs_queue.jobs.url
      HLSFLEET_RULES     = jsonencode([{ prefix = "", output = "s3://out/{stem}/" }])
    }
  }
}

resource "aws_iam_role" "lambda" {
  name = "lambda"
}

resource "aws_s3_bucket_notification" "source" {
  bucket = aws_s3_bucket.source.id

  lambda_function {
    lambda_function_arn = aws_lambda_function.clips.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.live_prefix
  }
}

resource "aws_s3_bucket_notification" "other" {
  bucket = aws_s3_bucket.other.id

  queue {
    queue_arn     = aws_sqs_queue.jobs.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.live_prefix
  }
}

# A third bucket notifies a Lambda that names the live queue and makes
# live-segment jobs, but whose role may only receive from that queue.
resource "aws_s3_bucket" "third" {
  bucket = "third"
}

resource "aws_iam_role" "live" {
  name = "live"
}

data "aws_iam_policy_document" "live" {
  statement {
    actions   = ["sqs:ReceiveMessage"]
    resources = [aws_sqs_queue.live.arn]
  }
}

resource "aws_iam_role_policy" "live" {
  role   = aws_iam_role.live.id
  policy = data.aws_iam_policy_document.live.json
}

resource "aws_lambda_function" "live" {
  function_name = "live"
  role          = aws_iam_role.live.arn
  environment {
    variables = {
      HLSFLEET_QUEUE_URL      = aws_sqs_queue.jobs.url
      HLSFLEET_LIVE_QUEUE_URL = aws_sqs_queue.live.url
      HLSFLEET_RULES          = jsonencode([{ prefix = var.live_prefix, kind = "live-segment", output = "s3://out/live/{stream}/" }])
    }
  }
}

resource "aws_s3_bucket_notification" "third" {
  bucket = aws_s3_bucket.third.id

  lambda_function {
    lambda_function_arn = aws_lambda_function.live.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.live_prefix
  }
}
