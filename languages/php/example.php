<?php
echo "Hello from Runnel!\n";
