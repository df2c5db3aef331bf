# Source and output buckets: encrypted, public access blocked, ownership
# enforced (no ACLs), TLS only. The source bucket notifies:
#   <upload_prefix>     -> SQS jobs queue (the worker turns the S3 event into a job)
#   <short_clip_prefix> -> the Lambda (short clips inline, longer ones queued)
#   <live_prefix>       -> the Lambda -> live FIFO queue, MessageGroupId = the
#                          stream, dedup id = stream.seq (S3 cannot notify a
#                          FIFO queue, and EventBridge could only set one fixed
#                          group for every stream)

resource "aws_s3_bucket" "source" {
  bucket        = local.source_bucket
  force_destroy = var.force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket" "output" {
  bucket        = local.output_bucket
  force_destroy = var.force_destroy
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "source" {
  bucket                  = aws_s3_bucket.source.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_public_access_block" "output" {
  bucket                  = aws_s3_bucket.output.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "source" {
  bucket = aws_s3_bucket.source.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_ownership_controls" "output" {
  bucket = aws_s3_bucket.output.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "source" {
  bucket = aws_s3_bucket.source.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn != "" ? "aws:kms" : "AES256"
      kms_master_key_id = var.kms_key_arn != "" ? var.kms_key_arn : null
    }
    bucket_key_enabled = var.kms_key_arn != ""
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "output" {
  bucket = aws_s3_bucket.output.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn != "" ? "aws:kms" : "AES256"
      kms_master_key_id = var.kms_key_arn != "" ? var.kms_key_arn : null
    }
    bucket_key_enabled = var.kms_key_arn != ""
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "source" {
  bucket = aws_s3_bucket.source.id

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }

  dynamic "rule" {
    for_each = var.source_expiration_days > 0 ? [var.source_expiration_days] : []
    content {
      id     = "expire-sources"
      status = "Enabled"
      filter {}
      expiration {
        days = rule.value
      }
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "output" {
  bucket = aws_s3_bucket.output.id

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
}

data "aws_iam_policy_document" "tls_only" {
  for_each = {
    source = aws_s3_bucket.source.arn
    output = aws_s3_bucket.output.arn
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value,
      "${each.value}/*",
    ]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "source" {
  bucket     = aws_s3_bucket.source.id
  policy     = data.aws_iam_policy_document.tls_only["source"].json
  depends_on = [aws_s3_bucket_public_access_block.source]
}

resource "aws_s3_bucket_policy" "output" {
  bucket     = aws_s3_bucket.output.id
  policy     = data.aws_iam_policy_document.tls_only["output"].json
  depends_on = [aws_s3_bucket_public_access_block.output]
}

resource "aws_s3_bucket_notification" "source" {
  bucket = aws_s3_bucket.source.id

  queue {
    id            = "uploads-to-jobs-queue"
    queue_arn     = aws_sqs_queue.jobs.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.upload_prefix
  }

  lambda_function {
    id                  = "short-clips-to-lambda"
    lambda_function_arn = aws_lambda_function.clips.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.short_clip_prefix
  }

  # live/<stream>/<seq>.ts|.m4s|.mp4 and live/<stream>/END: the Lambda turns
  # each into a live-segment job (HLSFLEET_RULES) and sends it to the live
  # FIFO queue (HLSFLEET_LIVE_QUEUE_URL) with the stream as its group, so
  # streams run in parallel and each one in order.
  lambda_function {
    id                  = "live-segments-to-lambda"
    lambda_function_arn = aws_lambda_function.clips.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.live_prefix
  }

  depends_on = [
    aws_sqs_queue_policy.jobs,
    aws_lambda_permission.s3_invoke,
  ]
}
